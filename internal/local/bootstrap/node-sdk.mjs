// xflow's module resolve hook for Node.js handlers in local mode, which
// node.cjs registers when the runtime names the AWS SDK it provides
// (XFLOW_AWS_SDK_JS). An import of an @aws-sdk or @smithy package that the
// handler's own node_modules lack is resolved from that folder, as Lambda's
// Node.js runtimes let handlers import the SDK they include.
let parentURL;

export function initialize(data) {
  parentURL = data?.parentURL;
}

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!parentURL || err?.code !== "ERR_MODULE_NOT_FOUND" || !/^@(aws-sdk|smithy)\//.test(specifier)) throw err;
    try {
      return await next(specifier, { ...context, parentURL });
    } catch {
      throw err; // not there either: the handler's own error says more
    }
  }
}
