/*
 * The ES module form of Solder's frontend SDK: `import Alloy from ".../sdk/solder.mjs"`.
 * It runs the classic script (which defines `Alloy`) and, when served by Solder, points the
 * default client at the server it came from.
 */
import "./solder.js";

const Alloy = globalThis.Alloy;
if (!Alloy.getBaseUrl() && /^https?:/.test(import.meta.url)) {
  Alloy.setBaseUrl(new URL(import.meta.url).origin);
}

export default Alloy;
export const createClient = Alloy.createClient;
