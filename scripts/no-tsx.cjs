// Preloaded by scripts/check-build.mjs: makes tsx unloadable, so what runs is the compiled code in dist/.
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'tsx' || request.startsWith('tsx/')) throw new Error(`tsx is not available here (${request})`);
  return resolve.call(this, request, ...rest);
};
