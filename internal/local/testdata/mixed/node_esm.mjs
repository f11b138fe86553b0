// An ES module with an async handler.
let count = 0;

async function putRecord(stream, data, key) {
  const res = await fetch(process.env.AWS_ENDPOINT_URL_KINESIS, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecord" },
    body: JSON.stringify({ StreamName: stream, PartitionKey: key, Data: Buffer.from(JSON.stringify(data)).toString("base64") }),
  });
  if (!res.ok) throw new Error(`PutRecord ${stream}: ${res.status} ${await res.text()}`);
}

export const handler = async (event, context) => {
  count++;
  for (const r of event.Records) {
    const p = JSON.parse(Buffer.from(r.kinesis.data, "base64").toString("utf8"));
    console.log(`execution_id=${p.execution_id} node_esm pid=${process.pid} invocation=${count}`);
    p.esm = { pid: process.pid, invocation: count, version: process.version, function: context.functionName, remaining: context.getRemainingTimeInMillis() > 0 };
    await putRecord(process.env.XFLOW_STREAM_FINISHED, p, p.execution_id);
  }
  return { batchItemFailures: [] };
};
