import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { histogram } from '../../src/train/diagnostics';
import { PALETTE, colorDistance, distinctColors } from '../../src/report/plot-axes';
import { confusionPlot } from '../../src/report/plot-confusion';
import { variableHistogramPlot } from '../../src/report/plot-histogram';
import { imageGrid } from '../../src/report/plot-image-grid';
import { lineLayout, linePlot, type LinePlotOptions, type Series } from '../../src/report/plot-line';
import type { Box, Raster } from '../../src/report/raster';

const overlap = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** No two labels overlap, every label lies inside the image, and the legend sits outside the data. */
function assertTidy(r: Raster, what: string): void {
  r.texts.forEach((t) =>
    assert.ok(
      t.x >= 0 && t.y >= 0 && t.x + t.w <= r.width && t.y + t.h <= r.height,
      `${what}: '${t.what}' at ${t.x},${t.y} (${t.w}x${t.h}) leaves the ${r.width}x${r.height} image`,
    ),
  );
  for (let i = 0; i < r.texts.length; i++) {
    for (let j = i + 1; j < r.texts.length; j++) {
      const [a, b] = [r.texts[i] as Box, r.texts[j] as Box];
      assert.ok(
        !overlap(a, b),
        `${what}: '${a.what}' (${a.x},${a.y} ${a.w}x${a.h}) overlaps '${b.what}' (${b.x},${b.y} ${b.w}x${b.h})`,
      );
    }
  }
  const plot = r.parts.find((p) => p.what === 'plot');
  const legend = r.parts.find((p) => p.what === 'legend');
  if (plot !== undefined && legend !== undefined) {
    assert.ok(
      !overlap(plot, legend),
      `${what}: the legend (${legend.x},${legend.y} ${legend.w}x${legend.h}) covers the data area`,
    );
    assert.ok(
      legend.x + legend.w <= r.width && legend.y + legend.h <= r.height,
      `${what}: the legend leaves the image`,
    );
  }
  if (plot !== undefined)
    for (const t of r.texts)
      assert.ok(
        !overlap(t, plot) || /points not finite|no data/.test(t.what),
        `${what}: '${t.what}' is drawn over the data`,
      );
}

const epochs = (n: number, f: (e: number) => number): [number, number][] =>
  Array.from({ length: n }, (_, i) => [i + 1, f(i + 1)]);

test('twenty lines get twenty colours, even when the caller cycles a palette of seven', () => {
  const series: Series[] = Array.from({ length: 20 }, (_, i) => ({
    name: `layer_${i}`,
    color: PALETTE[i % PALETTE.length]!,
    points: epochs(5, (e) => e * (i + 1)),
  }));
  const { colors } = lineLayout({ title: 't', xLabel: 'epoch', yLabel: 'y', series });
  for (let i = 0; i < colors.length; i++) {
    for (let j = i + 1; j < colors.length; j++)
      assert.ok(colorDistance(colors[i]!, colors[j]!) > 60, `series ${i} and ${j}: ${colors[i]} vs ${colors[j]}`);
  }
  assert.deepEqual(colors.slice(0, 7), PALETTE.slice(0, 7), 'the first seven keep the colours they asked for');
  assert.equal(new Set(distinctColors(40).map((c) => c.join())).size, 40);
});

test('line plots keep tick labels, axis titles and legends apart, with any tick width and any number of series', () => {
  const cases: [string, LinePlotOptions][] = [
    [
      'loss with a diverged epoch',
      {
        title: 'Loss',
        xLabel: 'epoch',
        yLabel: 'loss',
        yPin: { min: 0 },
        series: [
          { name: 'train', color: PALETTE[0]!, points: epochs(8, (e) => (e === 4 ? 925_072 : 2 / e)), markers: true },
          { name: 'validation', color: PALETTE[1]!, points: epochs(8, (e) => 2.1 / e), markers: true },
        ],
      },
    ],
    [
      'accuracy pinned at 1',
      {
        title: 'Accuracy',
        xLabel: 'epoch',
        yLabel: 'accuracy',
        yPin: { max: 1 },
        series: [
          { name: 'train', color: PALETTE[0]!, points: epochs(30, (e) => 1 - 1 / (e + 1)) },
          { name: 'validation', color: PALETTE[1]!, points: epochs(30, (e) => 0.99 - 1 / (e + 1)) },
        ],
      },
    ],
    [
      'tiny learning rates',
      {
        title: 'Learning rate',
        xLabel: 'epoch',
        yLabel: 'learning rate',
        series: [{ name: 'lr', color: PALETTE[3]!, points: epochs(12, (e) => 0.000031 * e) }],
      },
    ],
    [
      'log scale over ten decades',
      {
        title: 'Gradient norms',
        xLabel: 'epoch',
        yLabel: 'L2 norm',
        logY: true,
        series: [{ name: 'global', color: PALETTE[0]!, points: epochs(6, (e) => 10 ** (2 * e - 6)) }],
      },
    ],
    [
      'twenty-five layers with long names',
      {
        title: 'Update / weight ratio',
        xLabel: 'epoch',
        yLabel: 'ratio',
        logY: true,
        series: Array.from({ length: 25 }, (_, i) => ({
          name: `residual_block_${i}_conv_b`,
          color: PALETTE[i % 7]!,
          points: epochs(4, (e) => 0.001 * (i + 1) * e),
        })),
      },
    ],
    [
      'no data',
      { title: 'Empty', xLabel: 'epoch', yLabel: 'loss', series: [{ name: 'train', color: PALETTE[0]!, points: [] }] },
    ],
  ];
  for (const [what, o] of cases) assertTidy(linePlot(o), what);
});

test('histogram ridges of many epochs label only as many ridges as fit, without overlaps between panels', () => {
  const frames = Array.from({ length: 30 }, (_, e) => ({
    label: `epoch ${e + 1}`,
    h: histogram(
      Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * (e + 1)) * 1000),
      20,
    ),
  }));
  const r = variableHistogramPlot('residual_block_12/conv_b/kernel', frames, frames);
  assertTidy(r, 'histogram of 30 epochs');
  assert.ok(
    r.texts.some((t) => t.what === 'epoch 30'),
    'the latest epoch is always labelled',
  );
  assertTidy(variableHistogramPlot('dense_0/bias', frames.slice(0, 2), frames.slice(0, 2)), 'histogram of 2 epochs');
});

test('image grids and the confusion matrix keep their titles and labels inside the image and apart', () => {
  const img = { width: 28, height: 28, values: new Float32Array(784), label: 'label 7' };
  assertTidy(
    imageGrid({
      title: 'residual_block_3/conv_a feature maps of 4 test images (7x7, 16 of 64 channels)',
      images: [img, img],
      cell: 2,
      columns: 2,
      colormap: 'viridis',
      sharedScale: false,
    }),
    'a narrow grid with a long title',
  );
  const names = [
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ];
  const confusion = names.map((_, t) => names.map((__, p) => (t === p ? 950 : 5)));
  assertTidy(confusionPlot(confusion, names, 'Confusion matrix (test)'), 'confusion matrix of named classes');
});
