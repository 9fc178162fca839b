// GraphiQL with the explorer plugin, bundled so that the page needs no network
// besides the server it came from.
import { explorerPlugin } from "@graphiql/plugin-explorer";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL, HISTORY_PLUGIN } from "graphiql";
import { createClient } from "graphql-ws";
import { createRoot } from "react-dom/client";

import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";

// Monaco runs its language services in web workers. build.mjs bundles each
// worker into its own file next to this one and substitutes the names below,
// so the workers load from the same folder as this script, never from a CDN.
const workerFiles = {
  editor: __EDITOR_WORKER__,
  json: __JSON_WORKER__,
  graphql: __GRAPHQL_WORKER__,
};

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const file = workerFiles[label] ?? workerFiles.editor;
    return new Worker(new URL(`./${file}`, import.meta.url), { name: label });
  },
};

const container = document.getElementById("graphiql");
const endpoint = container.dataset.endpoint || "/graphql";
// Subscriptions go over a WebSocket to the same endpoint (graphql-transport-ws).
const socket = new URL(endpoint, location.href);
socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
const wsClient = createClient({ url: socket.href });
const fetcher = createGraphiQLFetcher({ url: endpoint, wsClient });
const plugins = [HISTORY_PLUGIN, explorerPlugin()];

createRoot(container).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={container.dataset.defaultQuery}
    plugins={plugins}
    defaultEditorToolsVisibility={true}
  />,
);
