// A dataset module for `data: { dataset: module, module: examples/my-data.js, task: classification }`.
// loadData returns rows already scaled as the model should see them. This one makes two
// interleaved spirals (a classic small problem an MLP must bend its boundary for).
exports.loadData = ({ trainLimit, testLimit }) => {
  const make = (n, offset) => {
    const x = [];
    const y = [];
    for (let i = 0; i < n; i++) {
      const cls = i % 2;
      const t = ((i + offset) % 500) / 500 * 3 * Math.PI;
      const r = 0.2 + t / (3 * Math.PI);
      const a = t + cls * Math.PI;
      x.push([r * Math.cos(a), r * Math.sin(a)]);
      y.push(cls);
    }
    return { x, y };
  };
  return { train: make(trainLimit || 2000, 0), test: make(testLimit || 400, 0.37), task: 'classification' };
};
