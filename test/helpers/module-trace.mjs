// Loaded with `node --import`: appends the URL of every module the process loads to the file
// named by GAGE_MODULE_TRACE, so a test can tell which bundle chunks a command loaded.
import { register } from "node:module";

const hooks = `
import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  if (process.env.GAGE_MODULE_TRACE) appendFileSync(process.env.GAGE_MODULE_TRACE, url + "\\n");
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
