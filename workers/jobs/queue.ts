// The queue handler: routes each batch by the queue it came from, parses every message with
// the shared contract, and turns outcomes into ack or retry-with-delay.
import { TASK_DLQ, TaskMessage, type GenerateMessage } from "../../queues/task";
import type { Env } from "../env";
import { recordDeadFanout, recordDeadTask } from "./dead-letter";
import { runFanout } from "./fan-out";
import { runGenerate, type Delivery } from "./generate";
import { runPoll } from "./batch-mode";
import { abandonCompile, continueCompile } from "../releases/compile";

export async function handleQueue(batch: MessageBatch<unknown>, env: Env, _ctx?: ExecutionContext): Promise<void> {
  const dead = batch.queue === TASK_DLQ;
  const generates: Delivery[] = [];
  for (const message of batch.messages) {
    const parsed = TaskMessage.safeParse(message.body);
    if (!parsed.success) {
      // Not ours to retry: a message that breaks the contract will never parse.
      console.error("dropping malformed task message", message.id, parsed.error.issues);
      message.ack();
      continue;
    }
    const body = parsed.data;
    try {
      if (dead) {
        if (body.kind === "fanout") await recordDeadFanout(env, body);
        else if (body.kind === "compile") await abandonCompile(env, body);
        else await recordDeadTask(env, body);
        message.ack();
      } else if (body.kind === "compile") {
        // A failing step marks its release failed itself; a crash is retried by the queue.
        await continueCompile(env, body).catch((e) => console.error(`release step ${body.release_id}/${body.step} failed`, e));
        message.ack();
      } else if (body.kind === "poll") {
        await runPoll(env, { msg: body, ack: () => message.ack(), retry: (delaySeconds) => message.retry({ delaySeconds }) });
      } else if (body.kind === "fanout") {
        const out = await runFanout(env, body);
        if (out.ack) message.ack();
        else message.retry({ delaySeconds: out.delaySeconds });
      } else {
        // The first decision about a message stands; later calls (e.g. a batch-wide retry
        // after some messages were already acked) are ignored.
        let decided = false;
        generates.push({
          msg: body as GenerateMessage,
          ack: () => void (decided || ((decided = true), message.ack())),
          retry: (delaySeconds) => void (decided || ((decided = true), message.retry({ delaySeconds }))),
        });
      }
    } catch (e) {
      console.error("task message failed", message.id, e);
      message.retry({ delaySeconds: 5 });
    }
  }
  if (generates.length) {
    try {
      await runGenerate(env, generates);
    } catch (e) {
      console.error("generate batch failed", e);
      for (const g of generates) g.retry(5);
    }
  }
}
