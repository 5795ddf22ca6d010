// Preload (`node -r ./scripts/bind-localhost.js server.js`) that makes every
// TCP server in the process listen on 127.0.0.1, whatever host it asks for.
//
// Why: the test emulators must only be reachable over loopback, and
// kinesis-local (kinesis-mock) always binds 0.0.0.0 with no option to change
// it. Unix-socket paths, handles and file descriptors are left untouched.
'use strict';

const net = require('net');

const LOOPBACK = '127.0.0.1';
const originalListen = net.Server.prototype.listen;

// Node treats a string that is a non-negative number as a port, anything
// else as a pipe/socket path.
const isPort = (v) => typeof v === 'number' || (typeof v === 'string' && Number(v) >= 0);

net.Server.prototype.listen = function listen(...args) {
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  const [first, second, third] = args;
  let options;

  if (first !== null && typeof first === 'object') {
    // listen({ port, host, ... }); leave handle / fd / path forms alone.
    if ('_handle' in first || 'handle' in first || 'fd' in first || first.path != null) {
      return originalListen.apply(this, arguments);
    }
    options = { ...first };
  } else if (first == null || isPort(first)) {
    // listen(), listen(port), listen(port, host), listen(port, backlog),
    // listen(port, host, backlog)
    options = { port: first == null ? 0 : first };
    const backlog = typeof second === 'string' ? third : second;
    if (backlog !== undefined) options.backlog = Number(backlog);
  } else {
    return originalListen.apply(this, arguments); // listen(path): IPC
  }

  if (options.port == null) options.port = 0;
  options.host = LOOPBACK;
  delete options.ipv6Only;
  return cb ? originalListen.call(this, options, cb) : originalListen.call(this, options);
};
