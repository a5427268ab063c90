// Loaded with `node --import`: appends the URL of every module the process loads to the file
// named by GAGE_MODULE_TRACE, ES modules (a loader hook) and CommonJS ones (`require`), so a test
// can tell which files a command loaded.
import { appendFileSync } from "node:fs";
import Module, { register } from "node:module";
import { pathToFileURL } from "node:url";

const hooks = `
import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  if (process.env.GAGE_MODULE_TRACE) appendFileSync(process.env.GAGE_MODULE_TRACE, url + "\\n");
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exports = load.call(this, request, parent, isMain);
  if (process.env.GAGE_MODULE_TRACE && !Module.isBuiltin(request)) {
    appendFileSync(process.env.GAGE_MODULE_TRACE, pathToFileURL(Module._resolveFilename(request, parent, isMain)).href + "\n");
  }
  return exports;
};
