// Builds the offline GraphiQL and Swagger UI assets into ../flrepo/static/.
//
// Every file gets a content hash in its name so the server can tell browsers to
// cache it for a year; manifest.json maps the logical names the server asks for
// (graphiql.js, swagger-ui.css, ...) to the hashed file names.
//
//   npm ci && npm run build
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, process.env.FLREPO_STATIC_OUT ?? "../flrepo/static");
const require = createRequire(import.meta.url);
const packageVersion = (name) => require(`${name}/package.json`).version;

const common = {
  bundle: true,
  minify: true,
  legalComments: "linked",
  target: ["es2022"],
  logLevel: "warning",
  outdir,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  absWorkingDir: here,
};

/** The output file (relative to outdir) built from each entry point, and its CSS. */
function outputsByEntry(metafile) {
  const found = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint) {
      found[path.resolve(here, output.entryPoint)] = {
        js: path.relative(outdir, path.resolve(file)),
        css: output.cssBundle && path.relative(outdir, path.resolve(output.cssBundle)),
      };
    }
  }
  return found;
}

/** The same 8-character base32 hash style esbuild uses, for files we copy. */
function contentHash(data) {
  const digest = createHash("sha256").update(data).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** Copies a file under a hashed name, dropping its source-map comment (the map is not shipped). */
async function copyHashed(source, logicalName) {
  let data = await readFile(source);
  if (/\.(js|css)$/.test(logicalName)) {
    data = Buffer.from(
      data
        .toString("utf8")
        .replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n")
        .replace(/\n?\/\*# sourceMappingURL=\S+ \*\/\s*$/, "\n"),
    );
  }
  const ext = path.extname(logicalName);
  const name = `${path.basename(logicalName, ext)}-${contentHash(data)}${ext}`;
  await writeFile(path.join(outdir, name), data);
  return name;
}

async function main() {
  const started = Date.now();
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });

  // 1. Monaco's web workers, as classic scripts of their own.
  const workerEntries = {
    "editor.worker": require.resolve("monaco-editor/esm/vs/editor/editor.worker.js"),
    "json.worker": require.resolve("monaco-editor/esm/vs/language/json/json.worker.js"),
    "graphql.worker": require.resolve("monaco-graphql/esm/graphql.worker.js"),
  };
  const workers = await esbuild.build({
    ...common,
    entryPoints: workerEntries,
    format: "iife",
  });
  const workerOut = outputsByEntry(workers.metafile);
  const workerFile = (name) => workerOut[workerEntries[name]].js;

  // 2. GraphiQL, which finds the workers above by their hashed names.
  const graphiql = await esbuild.build({
    ...common,
    entryPoints: { graphiql: path.join(here, "src/graphiql.jsx") },
    format: "esm",
    jsx: "automatic",
    loader: { ".ttf": "file", ".woff": "file", ".woff2": "file", ".svg": "file" },
    define: {
      __EDITOR_WORKER__: JSON.stringify(workerFile("editor.worker")),
      __JSON_WORKER__: JSON.stringify(workerFile("json.worker")),
      __GRAPHQL_WORKER__: JSON.stringify(workerFile("graphql.worker")),
      "process.env.NODE_ENV": '"production"',
    },
  });
  const graphiqlOut = outputsByEntry(graphiql.metafile)[path.join(here, "src/graphiql.jsx")];

  // 3. Swagger UI ships prebuilt; copy it under hashed names.
  const swaggerDist = path.dirname(require.resolve("swagger-ui-dist/package.json"));
  const swagger = {
    "swagger-ui-bundle.js": await copyHashed(
      path.join(swaggerDist, "swagger-ui-bundle.js"),
      "swagger-ui-bundle.js",
    ),
    "swagger-ui.css": await copyHashed(path.join(swaggerDist, "swagger-ui.css"), "swagger-ui.css"),
    "favicon.png": await copyHashed(path.join(swaggerDist, "favicon-32x32.png"), "favicon.png"),
  };

  const manifest = {
    versions: Object.fromEntries(
      [
        "graphiql",
        "@graphiql/plugin-explorer",
        "@graphiql/react",
        "@graphiql/toolkit",
        "react",
        "react-dom",
        "graphql",
        "swagger-ui-dist",
      ].map((name) => [name, packageVersion(name)]),
    ),
    files: {
      "graphiql.js": graphiqlOut.js,
      "graphiql.css": graphiqlOut.css,
      "editor.worker.js": workerFile("editor.worker"),
      "json.worker.js": workerFile("json.worker"),
      "graphql.worker.js": workerFile("graphql.worker"),
      ...swagger,
    },
  };
  for (const [logical, file] of Object.entries(manifest.files)) {
    if (!file) throw new Error(`build produced no file for ${logical}`);
  }
  await writeFile(path.join(outdir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(
    `explorer assets written to ${path.relative(here, outdir)} in ${Date.now() - started} ms`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
