// Parse an AsyncAPI document with @asyncapi/parser (its own schema + ruleset validation) and print
// a JSON report: the diagnostics, and the channels, operations and messages the parser resolved.
// Usage: node validate_asyncapi.mjs NODE_TOOLS_DIR DOCUMENT.yaml
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [toolsDir, documentPath] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(toolsDir), "package.json"));
const { Parser } = require("@asyncapi/parser");

const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(documentPath, "utf8"), {
  source: path.resolve(documentPath),
});

const severities = ["error", "warning", "info", "hint"];
const report = {
  diagnostics: diagnostics.map((d) => ({
    code: String(d.code),
    severity: severities[d.severity] ?? String(d.severity),
    message: d.message,
    path: d.path.join("."),
  })),
  valid: document !== undefined,
  channels: {},
  operations: {},
  messages: {},
};

if (document) {
  for (const channel of document.channels().all()) {
    const kafka = channel.bindings().get("kafka");
    report.channels[channel.id()] = {
      address: channel.address(),
      messages: channel.messages().all().map((m) => m.id()),
      partitions: kafka ? kafka.value().partitions : null,
    };
  }
  for (const operation of document.operations().all()) {
    report.operations[operation.id()] = {
      action: operation.action(),
      channels: operation.channels().all().map((c) => c.address()),
      messages: operation.messages().all().map((m) => m.id()),
    };
  }
  for (const message of document.components().messages().all()) {
    const kafka = message.bindings().get("kafka");
    report.messages[message.id()] = {
      contentType: message.contentType(),
      headers: message.hasHeaders() ? Object.keys(message.headers().properties()) : [],
      payloadTitle: message.hasPayload() ? message.payload().title() : null,
      key: kafka ? kafka.value().key : null,
    };
  }
}
console.log(JSON.stringify(report, null, 1));
