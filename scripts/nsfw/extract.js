// Writes nsfwjs's MobileNetV2 topology (model.json) and weights (weights.bin) from its
// bundled .min.js wrappers into the directory given.
const fs = require("fs");
const path = require("path");
const [models, out] = process.argv.slice(2);
const model = require(path.join(models, "mobilenet_v2", "model.min.js"));
const shard = require(path.join(models, "mobilenet_v2", "group1-shard1of1.min.js"));
fs.writeFileSync(path.join(out, "model.json"), JSON.stringify(model));
fs.writeFileSync(path.join(out, "weights.bin"), Buffer.from(shard, "base64"));
