// Drives a distgpt server through OpenAI's official client, as a user's
// script would, and prints what came back as JSON for the test to check.
// Usage: node openai_checks.mjs BASE_URL API_KEY CHECK 'ARGS-JSON'
import OpenAI from 'openai';

const [baseURL, apiKey, check, argsJson] = process.argv.slice(2);
const args = argsJson ? JSON.parse(argsJson) : {};
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (e) {
    return e.status ?? -1;
  }
}

// A streamed chat's text, finish reason and usage, as the client hands them over.
async function streamChat(request, signal) {
  const stream = await client.chat.completions.create({ ...request, stream: true }, { signal });
  let text = '', finish = null, usage = null, chunks = 0, first = null;
  for await (const chunk of stream) {
    chunks++;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) {
      text += choice.delta.content;
      first ??= performance.now();
    }
    if (choice?.finish_reason) finish = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish, usage, chunks, first, last: performance.now() };
}

// The most streams that were receiving text at one moment.
function mostAtOnce(streams) {
  const edges = streams.flatMap((s) => [[s.first, 1], [s.last, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0, most = 0;
  for (const [, step] of edges) most = Math.max(most, (open += step));
  return most;
}

async function streamCompletion(request) {
  const stream = await client.completions.create({ ...request, stream: true });
  let text = '', finish = null, usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish, usage };
}

// Raw requests, for what the client would never send.
async function raw(path, body, headers = {}) {
  const response = await fetch(baseURL + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}`, ...headers },
    body,
  });
  let error = null;
  try {
    error = (await response.json()).error ?? null;
  } catch {}
  return { status: response.status, error };
}

const checks = {
  async basics() {
    const models = (await client.models.list()).data.map((m) => m.id);
    const c = await client.completions.create({ model: models[0], prompt: args.prompt, max_tokens: args.max_tokens, seed: args.seed });
    const chat = await client.chat.completions.create({
      model: models[0], messages: [{ role: 'user', content: args.prompt }], max_tokens: args.max_tokens, seed: args.seed,
    });
    const chatStream = await streamChat({
      model: models[0], messages: [{ role: 'user', content: args.prompt }], max_tokens: args.max_tokens, seed: args.seed,
    });
    const completionStream = await streamCompletion({ model: models[0], prompt: args.prompt, max_tokens: args.max_tokens, seed: args.seed });
    const stopped = await client.completions.create({
      model: models[0], prompt: args.prompt, max_tokens: args.max_tokens, seed: args.seed, stop: [args.stop],
    });
    return {
      models,
      completion: { text: c.choices[0].text, finish: c.choices[0].finish_reason, usage: c.usage },
      chat: { text: chat.choices[0].message.content, role: chat.choices[0].message.role, finish: chat.choices[0].finish_reason, usage: chat.usage },
      chatStream,
      completionStream,
      stopped: { text: stopped.choices[0].text, finish: stopped.choices[0].finish_reason },
    };
  },

  // Every client at once, streaming, each with its own seed; and bad
  // requests among them, which must harm none.
  async concurrent() {
    const requests = args.prompts.map((prompt, i) => ({
      model: 'm', messages: [{ role: 'user', content: prompt }], max_tokens: args.max_tokens, temperature: 0.8, seed: 1000 + i,
      ignore_eos: args.ignore_eos,
    }));
    const bad = Array.from({ length: args.bad ?? 0 }, (_, i) => raw('/chat/completions', i % 2 ? '{"messages": [' : '{"messages": 7}'));
    const [streams, refused] = await Promise.all([Promise.all(requests.map((r) => streamChat(r))), Promise.all(bad)]);
    return { streams, refused: refused.map((r) => r.status), mostAtOnce: mostAtOnce(streams) };
  },

  // The same requests one after another, whole.
  async sequential() {
    const out = [];
    for (const [i, prompt] of args.prompts.entries()) {
      const chat = await client.chat.completions.create({
        model: 'm', messages: [{ role: 'user', content: prompt }], max_tokens: args.max_tokens, temperature: 0.8, seed: 1000 + i,
        ignore_eos: args.ignore_eos,  // an extension the server takes; the client passes it on
      });
      out.push({ text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason });
    }
    return out;
  },

  // A client that goes away after the first words.
  async disconnect() {
    const controller = new AbortController();
    let chunks = 0;
    try {
      const stream = await client.chat.completions.create(
        { model: 'm', messages: [{ role: 'user', content: args.prompt }], max_tokens: args.max_tokens, stream: true },
        { signal: controller.signal });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++chunks >= 2) controller.abort();
      }
    } catch (e) {
      if (e.name !== 'AbortError' && !(e instanceof OpenAI.APIUserAbortError)) throw e;
    }
    return { chunks };
  },

  // One request holds the only slot; the next is refused with 429 while it streams.
  async busy() {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: args.prompt }], max_tokens: args.max_tokens, stream: true },
      { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const second = await raw('/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }));
    controller.abort();
    try {
      while (!(await iterator.next()).done) {}
    } catch {}
    return second;
  },

  async auth() {
    const none = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0, defaultHeaders: { Authorization: null } });
    const wrong = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
    const request = { model: 'm', prompt: args.prompt, max_tokens: 2 };
    return {
      none: await status(none.completions.create(request)),
      wrong: await status(wrong.completions.create(request)),
      right: await status(client.completions.create(request)),
      models_without_key: await status(none.models.list()),
    };
  },

  async malformed() {
    const out = {};
    for (const [name, r] of Object.entries(args.requests)) {
      // A body too big for a command line is made here.
      const body = r.prompt_bytes ? JSON.stringify({ prompt: 'a'.repeat(r.prompt_bytes) }) : r.body;
      out[name] = await raw(r.path, body);
    }
    return out;
  },
};

const result = await checks[check]();
process.stdout.write(JSON.stringify(result) + '\n');
