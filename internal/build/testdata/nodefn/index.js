// A Node.js step with one npm dependency, for xflow's build tests.
const isNumber = require("is-number");

exports.handler = async (event) => ({ numbers: (event.values || []).filter((v) => isNumber(v)).length });
