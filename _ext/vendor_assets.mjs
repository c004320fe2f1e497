// Copy the browser assets the site serves itself from node_modules/ into web_vendor/
// (git-ignored). Run by `npm ci` / `npm install` (the "postinstall" script of package.json).
// _ext/offline_assets.py copies web_vendor/ into the built site; tests/browser injects axe-core.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nm = join(root, "node_modules");
const out = join(root, "web_vendor");

// [source in node_modules, destination in web_vendor]
const copies = [
  ["mathjax/es5", "mathjax"],                        // tex-mml-chtml.js + lazily loaded parts + fonts
  ["requirejs/require.js", "requirejs/require.js"],  // AMD loader the widget manager needs
  ["@jupyter-widgets/html-manager/dist", "html-manager"], // embed-amd.js renders saved widget state
  ["axe-core/axe.min.js", "axe-core/axe.min.js"],    // accessibility checks (tests only)
];

rmSync(out, { recursive: true, force: true });
for (const [src, dst] of copies) {
  const from = join(nm, src);
  if (!existsSync(from)) {
    console.error(`vendor_assets: missing ${from}; did npm install fail?`);
    process.exit(1);
  }
  mkdirSync(dirname(join(out, dst)), { recursive: true });
  cpSync(from, join(out, dst), { recursive: true });
}
const pkg = (name) => JSON.parse(readFileSync(join(nm, name, "package.json"), "utf8")).version;
const versions = Object.fromEntries(
  ["mathjax", "requirejs", "@jupyter-widgets/html-manager", "axe-core"].map((n) => [n, pkg(n)]));
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`vendor_assets: copied ${copies.length} assets into web_vendor/ ${JSON.stringify(versions)}`);
