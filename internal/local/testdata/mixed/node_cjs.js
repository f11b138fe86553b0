// A CommonJS callback handler. It publishes with a plain AWS JSON 1.1
// request to AWS_ENDPOINT_URL_KINESIS, as the AWS SDK for JavaScript would
// (the SDK is not installed beside this fixture).
let count = 0;

function putRecord(stream, data, key) {
  return fetch(process.env.AWS_ENDPOINT_URL_KINESIS, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecord" },
    body: JSON.stringify({ StreamName: stream, PartitionKey: key, Data: Buffer.from(JSON.stringify(data)).toString("base64") }),
  }).then(async (res) => {
    if (!res.ok) throw new Error(`PutRecord ${stream}: ${res.status} ${await res.text()}`);
  });
}

exports.handler = function (event, context, callback) {
  count++;
  let chain = Promise.resolve();
  for (const r of event.Records) {
    const p = JSON.parse(Buffer.from(r.kinesis.data, "base64").toString("utf8"));
    console.log(`execution_id=${p.execution_id} node_cjs pid=${process.pid} invocation=${count}`);
    p.cjs = { pid: process.pid, invocation: count, version: process.version, function: context.functionName };
    chain = chain.then(() => putRecord(process.env.XFLOW_STREAM_NODECHECKED, p, p.execution_id));
  }
  chain.then(() => callback(null, { batchItemFailures: [] }), (err) => callback(err));
};
