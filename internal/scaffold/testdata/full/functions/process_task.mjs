// A step of the workflow: receives TaskSubmitted events and publishes
// TaskProcessed ones. Each Kinesis record holds one event, a JSON object
// with an execution_id that `xflow track` follows through the workflow.
import { KinesisClient, PutRecordCommand } from "@aws-sdk/client-kinesis";

const kinesis = new KinesisClient({});

// The step's work: return the next event's data.
export function processTask(task) {
  return { result: `processed ${task.task ?? "a task"}` };
}

// The handler xflow.yaml names.
export async function handle(event) {
  for (const record of event.Records ?? []) {
    const task = JSON.parse(Buffer.from(record.kinesis.data, "base64").toString("utf8"));
    const executionId = task.execution_id;
    const result = { ...processTask(task), execution_id: executionId };
    // Log the execution_id on every line: `xflow track` finds a failing
    // function's lines by it.
    console.log(`execution_id=${executionId} processed: ${JSON.stringify(result)}`);
    // XFLOW_EMITS lists the streams of the events this function publishes.
    for (const stream of (process.env.XFLOW_EMITS ?? "").split(",").filter(Boolean)) {
      await kinesis.send(new PutRecordCommand({
        StreamName: stream,
        PartitionKey: executionId,
        Data: Buffer.from(JSON.stringify(result)),
      }));
    }
  }
}
