// xflow's Lambda runtime for Node.js handlers in local mode.
//
// The local runtime starts this file with `node` as a warm worker. It loads
// the handler (_HANDLER, module.function, from LAMBDA_TASK_ROOT) once:
// CommonJS with require, ES modules (.mjs, or .js under "type": "module")
// with import(). Then it asks the Lambda Runtime API at
// AWS_LAMBDA_RUNTIME_API for invocations, one at a time, and calls the
// handler as AWS's Node.js runtime does: async handlers (or handlers
// returning a promise) and callback handlers (three parameters), the same
// context object, console lines as "<time>\t<request id>\t<LEVEL>\t<message>"
// with newlines turned into carriage returns so that a multi-line message
// stays one log event, and the same error document. Standard library only.
//
// Lambda's Node.js runtimes include the AWS SDK for JavaScript v3; here
// XFLOW_AWS_SDK_JS names a node_modules folder with the part of it xflow
// installs (the Kinesis client). require() finds it through NODE_PATH, as
// on Lambda; import() through node-sdk.mjs, a resolve hook beside this
// file that tries that folder when a handler's own node_modules lack an
// @aws-sdk or @smithy package.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const util = require("node:util");
const { pathToFileURL } = require("node:url");

const API = "/2018-06-01/runtime";
const [apiHost, apiPort] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let requestId = "";

function call(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: apiHost, port: Number(apiPort), method, path: API + urlPath, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ res, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function post(urlPath, doc, errorType) {
  const headers = { "Content-Type": "application/json" };
  if (errorType) headers["Lambda-Runtime-Function-Error-Type"] = errorType;
  return call("POST", urlPath, JSON.stringify(doc), headers);
}

function patchConsole() {
  const write = (level) => (...args) => {
    const msg = util.format(...args).replace(/\n/g, "\r");
    process.stdout.write(`${new Date().toISOString()}\t${requestId || "undefined"}\t${level}\t${msg}\n`);
  };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
}

function errorDoc(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || "Error",
      errorMessage: err.message,
      trace: String(err.stack || "").split("\n"),
    };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

function logError(prefix, doc) {
  const json = JSON.stringify({ errorType: doc.errorType, errorMessage: doc.errorMessage, stack: doc.trace });
  process.stdout.write(`${new Date().toISOString()}\t${requestId || "undefined"}\tERROR\t${prefix} \t${json}\n`);
}

class InitError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

// isESM tells whether a .js file is an ES module: the nearest package.json
// says "type": "module".
function isESM(file) {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, "utf8")).type === "module";
      } catch {
        return false;
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

function provideSDK() {
  const sdk = process.env.XFLOW_AWS_SDK_JS;
  const { register } = require("node:module");
  if (!sdk || typeof register !== "function") return;
  // Resolving from a file beside the SDK's node_modules finds it there.
  const parentURL = pathToFileURL(path.join(path.dirname(sdk), "index.mjs")).href;
  register(pathToFileURL(path.join(__dirname, "node-sdk.mjs")).href, { data: { parentURL } });
}

// sdkHint explains a missing AWS SDK package.
function sdkHint(err) {
  const m = /Cannot find (?:package|module) '(@aws-sdk\/[^'/]+)/.exec(String(err && err.message));
  if (!m) return "";
  return ` (Lambda's Node.js runtimes include the AWS SDK for JavaScript v3; locally xflow provides ${
    process.env.XFLOW_AWS_SDK_JS ? "@aws-sdk/client-kinesis only" : "none of it, as npm could not install it"
  }: run \`npm install --save-dev ${m[1]}\` in your project)`;
}

async function loadHandler(name, root) {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) {
    throw new InitError("Runtime.MalformedHandlerName", `Bad handler ${name}`);
  }
  const modulePath = name.slice(0, dot);
  const fn = name.slice(dot + 1);
  let file = null;
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const f = path.resolve(root, modulePath + ext);
    if (fs.existsSync(f)) {
      file = f;
      break;
    }
  }
  if (!file) {
    throw new InitError("Runtime.ImportModuleError", `Error: Cannot find module '${modulePath}'`);
  }
  let mod;
  try {
    if (file.endsWith(".mjs") || (file.endsWith(".js") && isESM(file))) {
      mod = await import(pathToFileURL(file).href);
    } else {
      mod = require(file);
    }
  } catch (err) {
    if (err instanceof SyntaxError) throw new InitError("Runtime.UserCodeSyntaxError", String(err.stack || err));
    // The hint goes at the end of the message, the stack's first line.
    throw new InitError("Runtime.ImportModuleError", String(err.stack || err).replace(/\n|$/, (end) => sdkHint(err) + end));
  }
  let handler = mod[fn];
  if (handler === undefined && mod.default) handler = mod.default[fn];
  if (typeof handler !== "function") {
    throw new InitError("Runtime.HandlerNotFound", `${name} is undefined or not exported`);
  }
  return handler;
}

function invoke(handler, event, context) {
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      let done = false;
      const callback = (err, result) => {
        if (done) return;
        done = true;
        if (err !== null && err !== undefined) reject(err);
        else resolve(result);
      };
      try {
        const p = handler(event, context, callback);
        if (p && typeof p.then === "function") p.then((r) => callback(null, r), (e) => callback(e));
      } catch (err) {
        callback(err);
      }
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

async function main() {
  patchConsole();
  provideSDK();
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER, process.env.LAMBDA_TASK_ROOT);
  } catch (err) {
    const doc = errorDoc(err);
    logError("Init Error", doc);
    await post("/init/error", doc, "Unhandled");
    process.exit(1);
  }
  for (;;) {
    let next;
    try {
      next = await call("GET", "/invocation/next");
    } catch {
      process.exit(0); // the runtime stopped
    }
    if (next.res.statusCode !== 200) process.exit(0);
    const h = next.res.headers;
    requestId = h["lambda-runtime-aws-request-id"];
    const deadline = Number(h["lambda-runtime-deadline-ms"] || 0);
    if (h["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"];
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: h["lambda-runtime-invoked-function-arn"],
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      awsRequestId: requestId,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    };
    let result;
    try {
      const event = JSON.parse(next.body.toString("utf8"));
      result = await invoke(handler, event, context);
    } catch (err) {
      const doc = errorDoc(err);
      logError("Invoke Error", doc);
      await post(`/invocation/${requestId}/error`, doc, "Unhandled");
      continue;
    }
    await call("POST", `/invocation/${requestId}/response`, JSON.stringify(result === undefined ? null : result), {
      "Content-Type": "application/json",
    });
  }
}

main();
