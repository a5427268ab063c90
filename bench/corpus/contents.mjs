// What a generated run's files hold: results in three kinds (CSV, JSON, log), a training script,
// and the text formats Gage writes. Every function draws from the run's SeededRandom in a fixed
// order, which is part of the corpus's definition: reordering draws changes every file after them.

/** Lines from `line(i)` until they fill `size` bytes, cut to exactly `size` with a final newline. */
export function textOfSize(size, line) {
  const lines = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const text = line(i);
    lines.push(text);
    length += text.length + 1;
  }
  return `${lines.join("\n").slice(0, size - 1)}\n`;
}

/** Training metrics, one row per 10 steps. */
export function metricsCsv(random, size) {
  const header = "step,epoch,loss,val_loss,acc,val_acc,lr";
  let loss = 2 + random.next();
  let acc = 0.1;
  const rows = textOfSize(size - 40, (i) => {
    loss *= 0.995 + random.next() * 0.004;
    acc = Math.min(0.999, acc + random.next() * 0.003);
    const valLoss = loss * (1.02 + random.next() * 0.05);
    const valAcc = acc * (0.97 + random.next() * 0.02);
    const lr = 1e-3 * Math.pow(0.999, i);
    return `${i * 10},${Math.floor(i / 50)},${loss.toFixed(6)},${valLoss.toFixed(6)},${acc.toFixed(5)},${valAcc.toFixed(5)},${lr.toExponential(4)}`;
  });
  return `${header}\n${rows}`;
}

/** Evaluation results, grown 32 items at a time until the indented JSON reaches `size` bytes. */
export function evalJson(random, size) {
  const results = { schema: "gage-results/1", items: [] };
  do {
    for (let i = 0; i < 32; i++) {
      const name = `metric_${results.items.length}`;
      const step = random.int(0, 100000);
      const value = +(random.next() * 10).toFixed(6);
      const tags = [random.pick(["train", "eval", "test"]), random.pick(["a", "b", "c", "d"])];
      results.items.push({ name, step, value, tags });
    }
  } while (JSON.stringify(results, null, 2).length < size);
  return `${JSON.stringify(results, null, 2)}\n`;
}

const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARNING"];
const MESSAGES = ["step done", "checkpoint saved", "eval complete", "data loader refill", "gradient norm", "lr schedule update"];

/** A trainer's log from `startMs` on, a few hundred milliseconds between lines. */
export function trainerLog(random, size, startMs) {
  let ms = startMs;
  return textOfSize(size, (i) => {
    ms += random.int(5, 900);
    const level = random.pick(LEVELS);
    const message = random.pick(MESSAGES);
    const loss = (random.next() * 3).toFixed(5);
    return `${new Date(ms).toISOString()} ${level} trainer: ${message} i=${i} loss=${loss} mem=${random.int(1000, 9000)}MB`;
  });
}

const SCRIPT_BODY = `
def lr_at(step, base=1e-3, warmup=500):
    if step < warmup:
        return base * step / warmup
    return base * 0.5 * (1 + math.cos(math.pi * step / 10000))

def train(epochs, batch_size, lr):
    random.seed(SEED)
    loss = 2.5
    for epoch in range(epochs):
        for step in range(1000 // batch_size):
            loss *= 0.999 - random.random() * 1e-4
            if step % 50 == 0:
                print(json.dumps({"epoch": epoch, "step": step, "loss": loss, "lr": lr_at(step, lr)}))
    return loss

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args()
    final = train(args.epochs, args.batch_size, args.lr)
    with open("results/summary.json", "w") as f:
        json.dump({"final_loss": final}, f)
`;

/** A training script of about 2 KB: constants drawn, then note lines until it passes 1,900 bytes. */
export function trainScript(random) {
  const head = "import argparse\nimport json\nimport math\nimport random\n\n";
  const constants = `SEED = ${random.int(0, 99999)}\nLAYERS = ${random.int(2, 48)}\nHIDDEN = ${random.pick([128, 256, 512, 1024])}\n`;
  let text = head + constants + SCRIPT_BODY;
  while (text.length < 1900) text += `\n# note ${random.hex(24)}: tuning history entry ${random.int(0, 1000)}`;
  return `${text}\nif __name__ == "__main__":\n    main()\n`;
}

/** A project's gagefile for one operation. */
export function gagefile(random, op, project) {
  const epochs = random.int(1, 100);
  const batchSize = random.pick([16, 32, 64, 128]);
  const lr = (random.next() * 1e-2).toExponential(3);
  return [
    `[${op}]`,
    `exec = "python train.py"`,
    `description = "${op} for ${project}"`,
    "",
    `[${op}.flags]`,
    `epochs = ${epochs}`,
    `batch_size = ${batchSize}`,
    `lr = ${lr}`,
    "",
    `[${op}.sourcecode]`,
    `include = ["*.py", "gage.toml"]`,
    "",
  ].join("\n");
}

/** Python's `json.dumps` with its default separators (", " and ": ") and `ensure_ascii`. */
export function pythonJson(value) {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Gage's timestamp files: integer epoch microseconds. */
export const micros = (ms) => String(ms * 1000);

/** A `log/runner` line's time: whole seconds with the zone. */
export const runnerStamp = (ms) => `${new Date(ms).toISOString().slice(0, 19)}+0000`;

/** `output/40_run.index`: one 9-byte record (big-endian ms, stream 0) per line of `output`. */
export function outputIndex(output, startMs, stepMs) {
  const lines = output.split("\n").length - 1;
  const index = Buffer.alloc(lines * 9);
  for (let i = 0; i < lines; i++) index.writeBigUInt64BE(BigInt(startMs + i * stepMs), i * 9);
  return index;
}
