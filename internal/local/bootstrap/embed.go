// Package bootstrap holds the programs that run Python and Node.js
// handlers in local mode's worker processes, speaking the Lambda Runtime
// API as AWS's own runtimes do. They are embedded in the xflow binary and
// written to the state folder when the local runtime starts.
package bootstrap

import _ "embed"

// Python is the Python bootstrap, run as `python3 <file>`.
//
//go:embed python.py
var Python []byte

// Node is the Node.js bootstrap, a CommonJS file run as `node <file>`.
//
//go:embed node.cjs
var Node []byte

// NodeSDKHook is the module resolve hook that lets Node.js handlers import
// the AWS SDK local mode provides; the Node bootstrap registers it from
// beside itself.
//
//go:embed node-sdk.mjs
var NodeSDKHook []byte
