// One drain through BullMQ with the replaced service's settings (reference/old-service-faq.md: a worker of
// concurrency 5, limiter {max: rate, duration: 1000}), against the provider sink. Driven by bench/bullmq.py.
//
// Environment: REDIS_PORT, SINK_URL, CHANNEL (sms | email), RATE (jobs a second), COUNT, RUN (a tag).
// Every job is added before the worker starts, so all of them are released at one instant. Prints one
// JSON line: the worker's CPU while draining (process.cpuUsage), and how many jobs completed and failed.
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const env = process.env;
const channel = env.CHANNEL;
const rate = Number(env.RATE);
const count = Number(env.COUNT);
const run = env.RUN;
const connection = new IORedis(Number(env.REDIS_PORT), "127.0.0.1", { maxRetriesPerRequest: null });
const name = `send-${channel}-queue`;

function payload(index) {
  const common = { messageId: `${run}-${index}`, contactId: `bench-contact-${index}`, metadata: { run } };
  if (channel === "sms") {
    return { ...common, to: `+1555${String(index).padStart(7, "0")}`, message: "Benchmark message" };
  }
  return { ...common, to: `bench${index}@example.com`, subject: "Benchmark", html: "<p>Benchmark</p>" };
}

const queue = new Queue(name, { connection });
await queue.obliterate({ force: true });
const jobs = Array.from({ length: count }, (_, index) => ({
  name: "send",
  data: payload(index),
  opts: { attempts: 5, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: true },
}));
for (let start = 0; start < jobs.length; start += 500) {
  await queue.addBulk(jobs.slice(start, start + 500));
}

let completed = 0;
let failed = 0;
const cpuBefore = process.cpuUsage();
const started = Date.now() / 1000;
const done = new Promise((resolve) => {
  const worker = new Worker(
    name,
    async (job) => {
      const answer = await fetch(`${env.SINK_URL}/send-${channel}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": job.data.messageId },
        body: JSON.stringify(job.data),
      });
      await answer.text();
      if (!answer.ok) {
        throw new Error(`provider answered ${answer.status}`);
      }
    },
    { connection, concurrency: 5, limiter: { max: rate, duration: 1000 } },
  );
  const check = () => {
    if (completed + failed >= count) {
      resolve(worker);
    }
  };
  worker.on("completed", () => {
    completed += 1;
    check();
  });
  worker.on("failed", (job) => {
    if (job.attemptsMade >= job.opts.attempts) {
      failed += 1;
      check();
    }
  });
});
const worker = await done;
const cpu = process.cpuUsage(cpuBefore);
await worker.close();
await queue.close();
await connection.quit();
console.log(
  JSON.stringify({ completed, failed, started, cpuMs: (cpu.user + cpu.system) / 1000, finished: Date.now() / 1000 }),
);
