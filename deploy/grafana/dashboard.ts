/**
 * The Grafana dashboard for ringtrain, as typed source: `satisfies Dashboard` (@grafana/schema)
 * checks it at compile time, and ringtrain.json beside this file is its rendering, which the
 * Grafana sidecar loads from a ConfigMap (deploy/grafana/kustomization.yaml). After editing,
 * rebuild and regenerate the JSON (a CI test fails until the two agree):
 *
 *   npx tsc -p tsconfig.json && node dist/deploy/grafana/dashboard.js
 *
 * Every query is filtered by the `job` variable: one Prometheus job per ringtrain job (the
 * PodMonitor takes it from the pods' app.kubernetes.io/instance label).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Dashboard, DataSourceRef, Panel, RowPanel, VariableModel } from '@grafana/schema';

const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
const JOB = 'job="$job"';

interface Query {
  expr: string;
  legend: string;
  /** Evaluate once at the end of the range (stat panels) instead of as a series. */
  instant?: boolean;
}

interface PanelSpec {
  title: string;
  description: string;
  queries: Query[];
  /** Grafana unit id: 's', 'Bps', 'percentunit', 'suffix:...'. */
  unit: string;
  grid: { x: number; y: number; w: number; h: number };
  /** Stack the series (phases of a step add up to the step). */
  stacked?: boolean;
  /** Repeat the panel once per value of this variable. */
  repeat?: string;
}

let nextId = 1;

function targets(queries: Query[]): Record<string, unknown>[] {
  return queries.map((q, i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    expr: q.expr,
    legendFormat: q.legend,
    range: q.instant !== true,
    instant: q.instant === true,
  }));
}

function timeseries(p: PanelSpec): Panel {
  return {
    id: nextId++,
    type: 'timeseries',
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos: p.grid,
    ...(p.repeat === undefined ? {} : { repeat: p.repeat, repeatDirection: 'h' as const, maxPerRow: 4 }),
    fieldConfig: {
      defaults: {
        unit: p.unit,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: p.stacked ? 60 : 10,
          stacking: { mode: p.stacked ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: targets(p.queries),
  };
}

function stat(p: PanelSpec): Panel {
  return {
    id: nextId++,
    type: 'stat',
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos: p.grid,
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      textMode: 'value_and_name',
      justifyMode: 'auto',
      orientation: 'auto',
    },
    targets: targets(p.queries),
  };
}

function row(title: string, y: number): RowPanel {
  return { id: nextId++, type: 'row', title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] };
}

const rate = (metric: string, extra = ''): string => `rate(${metric}{${JOB}${extra}}[$__rate_interval])`;

const variables: VariableModel[] = [
  { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus' },
  {
    name: 'job',
    label: 'Job',
    type: 'query',
    datasource: DATASOURCE,
    query: 'label_values(ringtrain_job_state, job)',
    refresh: 2,
    sort: 1,
  },
  {
    name: 'rank',
    label: 'Rank',
    type: 'query',
    datasource: DATASOURCE,
    query: `label_values(ringtrain_samples_total{${JOB}}, rank)`,
    refresh: 2,
    sort: 3,
    multi: true,
    includeAll: true,
  },
];

const panels: Array<Panel | RowPanel> = [
  row('Job', 0),
  stat({
    title: 'State',
    description: 'The job state the coordinator reports (running, done or failed).',
    queries: [{ expr: `ringtrain_job_state{${JOB}} == 1`, legend: '{{state}}', instant: true }],
    unit: 'none',
    grid: { x: 0, y: 1, w: 4, h: 4 },
  }),
  stat({
    title: 'Epoch / step / generation',
    description:
      'Epochs completed, optimizer steps taken, and the ring generation (it changes when membership changes).',
    queries: [
      { expr: `max(ringtrain_job_epoch{${JOB}})`, legend: 'epoch', instant: true },
      { expr: `max(ringtrain_job_step{${JOB}})`, legend: 'step', instant: true },
      { expr: `max(ringtrain_job_generation{${JOB}})`, legend: 'generation', instant: true },
    ],
    unit: 'none',
    grid: { x: 4, y: 1, w: 8, h: 4 },
  }),
  timeseries({
    title: 'Stragglers',
    description:
      'Ranks the coordinator names stragglers (1): busier per step than the median of the others for several heartbeats. The ring runs at their pace.',
    queries: [{ expr: `max by (rank) (ringtrain_job_straggler{${JOB}})`, legend: 'rank {{rank}}' }],
    unit: 'none',
    grid: { x: 0, y: 5, w: 12, h: 4 },
  }),
  timeseries({
    title: 'Workers and restarts',
    description:
      'Workers holding a live lease against the world size, workers Prometheus can scrape, and ring restarts (0 until elastic restarts exist).',
    queries: [
      { expr: `sum(ringtrain_job_workers{${JOB}})`, legend: 'live workers' },
      { expr: `max(ringtrain_job_world_size{${JOB}})`, legend: 'world size' },
      { expr: `count(up{${JOB}, role="worker"} == 1)`, legend: 'workers scraped' },
      { expr: `sum(ringtrain_job_restarts_total{${JOB}})`, legend: 'restarts' },
    ],
    unit: 'none',
    grid: { x: 12, y: 1, w: 12, h: 8 },
  }),
  row('Throughput', 9),
  timeseries({
    title: 'Throughput',
    description:
      'Training samples per second: summed over ranks from their counters, and the last epoch as rank 0 measured it (training time only).',
    queries: [
      { expr: `sum(${rate('ringtrain_samples_total')})`, legend: 'all ranks' },
      { expr: `max(ringtrain_job_samples_per_second{${JOB}})`, legend: 'last epoch (rank 0)' },
      { expr: `sum by (rank) (${rate('ringtrain_samples_total')})`, legend: 'rank {{rank}}' },
    ],
    unit: 'suffix: samples/s',
    grid: { x: 0, y: 10, w: 24, h: 8 },
  }),
  row('Loss and accuracy', 18),
  timeseries({
    title: 'Loss',
    description: 'Mean loss of the last finished epoch over the whole job, train against val.',
    queries: [{ expr: `max by (split) (ringtrain_job_loss{${JOB}})`, legend: '{{split}}' }],
    unit: 'none',
    grid: { x: 0, y: 19, w: 8, h: 8 },
  }),
  timeseries({
    title: 'Accuracy',
    description: 'Accuracy of the last finished epoch over the whole job, train against val.',
    queries: [{ expr: `max by (split) (ringtrain_job_accuracy{${JOB}})`, legend: '{{split}}' }],
    unit: 'percentunit',
    grid: { x: 8, y: 19, w: 8, h: 8 },
  }),
  timeseries({
    title: 'Learning rate and momentum',
    description:
      "The latest optimizer step's learning rate (warmup, schedule and scaling applied) and momentum (Adam's beta1), the same on every rank; onecycle moves both.",
    queries: [
      { expr: `max(ringtrain_learning_rate{${JOB}})`, legend: 'learning rate' },
      { expr: `max(ringtrain_momentum{${JOB}})`, legend: 'momentum' },
    ],
    unit: 'none',
    grid: { x: 16, y: 19, w: 8, h: 8 },
  }),
  row('Step time', 27),
  timeseries({
    title: 'Step time by phase, rank $rank',
    description:
      'Seconds per optimizer step spent loading data, computing gradients, communicating (all-reduce, including waiting for slower ranks) and updating weights.',
    queries: [
      {
        expr:
          `sum by (phase) (${rate('ringtrain_step_phase_seconds_total', ', rank=~"$rank"')})` +
          ` / scalar(sum(${rate('ringtrain_step_duration_seconds_count', ', rank=~"$rank"')}))`,
        legend: '{{phase}}',
      },
    ],
    unit: 's',
    stacked: true,
    repeat: 'rank',
    grid: { x: 0, y: 28, w: 12, h: 8 },
  }),
  timeseries({
    title: 'Waiting for slower ranks',
    description:
      "Share of wall time each rank spends ready but waiting for a neighbour's first message: the part of communication lost to a slower rank (a straggler, a pause) rather than to the exchange. High on every rank but one: that one is the straggler. High on all: uneven step times (compute tails) rather than the network.",
    queries: [
      {
        expr: `sum by (rank) (${rate('ringtrain_peer_wait_seconds_total')}) / sum by (rank) (${rate('ringtrain_step_phase_seconds_total')})`,
        legend: 'rank {{rank}}',
      },
    ],
    unit: 'percentunit',
    grid: { x: 12, y: 28, w: 12, h: 8 },
  }),
  timeseries({
    title: 'Busy fraction per rank',
    description:
      'Share of wall time each rank spends on its own work (data + compute). In a synchronous ring the busiest rank sets the pace; the others wait in communication. The straggler alert compares these.',
    queries: [
      {
        expr: `sum by (rank) (${rate('ringtrain_step_phase_seconds_total', ', phase=~"data|compute"')})`,
        legend: 'rank {{rank}}',
      },
    ],
    unit: 'percentunit',
    grid: { x: 0, y: 36, w: 12, h: 8 },
  }),
  timeseries({
    title: 'Step duration p50 / p95',
    description: 'Wall time of one optimizer step, from the step duration histogram.',
    queries: [
      {
        expr: `histogram_quantile(0.5, sum by (rank, le) (${rate('ringtrain_step_duration_seconds_bucket')}))`,
        legend: 'p50 rank {{rank}}',
      },
      {
        expr: `histogram_quantile(0.95, sum by (rank, le) (${rate('ringtrain_step_duration_seconds_bucket')}))`,
        legend: 'p95 rank {{rank}}',
      },
    ],
    unit: 's',
    grid: { x: 12, y: 36, w: 12, h: 8 },
  }),
  row('All-reduce', 44),
  timeseries({
    title: 'All-reduce bus bandwidth',
    description:
      'Bytes each rank sends per second of all-reduce time. The byte counter already counts 2(n-1)/n of the buffer per all-reduce, so this is the bus bandwidth in NCCL terms, comparable across world sizes.',
    queries: [
      {
        expr: `sum by (rank) (${rate('ringtrain_allreduce_bytes_total')}) / sum by (rank) (${rate('ringtrain_allreduce_duration_seconds_sum')})`,
        legend: 'rank {{rank}}',
      },
    ],
    unit: 'Bps',
    grid: { x: 0, y: 45, w: 12, h: 8 },
  }),
  timeseries({
    title: 'All-reduce time p95',
    description: 'Wall time of one all-reduce (reduce-scatter + all-gather), from its histogram.',
    queries: [
      {
        expr: `histogram_quantile(0.95, sum by (rank, le) (${rate('ringtrain_allreduce_duration_seconds_bucket')}))`,
        legend: 'rank {{rank}}',
      },
    ],
    unit: 's',
    grid: { x: 12, y: 45, w: 12, h: 8 },
  }),
  stat({
    title: 'Ring links',
    description:
      "How each rank's all-reduce payloads travel to its ring successor: grpc, socket (tcp), shared-memory (tcp between workers of one host, through /dev/shm) or shared-file (two ranks of one host summing in one file, either transport). A tcp link that shows socket between workers of one host fell back; the worker log says why.",
    queries: [
      {
        expr: `max by (rank, peer, path) (ringtrain_ring_link_info{${JOB}})`,
        legend: 'rank {{rank}} to {{peer}}: {{path}}',
        instant: true,
      },
    ],
    unit: 'none',
    grid: { x: 0, y: 53, w: 24, h: 4 },
  }),
  row('Processes', 57),
  timeseries({
    title: 'CPU per process',
    description:
      'CPU seconds per second of each worker (by rank) and of the coordinator (no rank): 1 is one core. A wasm worker fills about one core; far less means it waits.',
    queries: [{ expr: `sum by (role, rank) (${rate('process_cpu_seconds_total')})`, legend: '{{role}} {{rank}}' }],
    unit: 'suffix: cores',
    grid: { x: 0, y: 58, w: 6, h: 8 },
  }),
  timeseries({
    title: 'Resident memory per process',
    description: "Resident set size of each process, against the pods' memory limits (2 GiB for cpu workers).",
    queries: [{ expr: `max by (role, rank) (process_resident_memory_bytes{${JOB}})`, legend: '{{role}} {{rank}}' }],
    unit: 'bytes',
    grid: { x: 6, y: 58, w: 6, h: 8 },
  }),
  timeseries({
    title: 'Time in garbage collection',
    description:
      "Share of wall time each process spends in V8 garbage collection. One rank's GC pause stalls every rank at the next all-reduce.",
    queries: [{ expr: `sum by (role, rank) (${rate('nodejs_gc_duration_seconds_sum')})`, legend: '{{role}} {{rank}}' }],
    unit: 'percentunit',
    grid: { x: 12, y: 58, w: 6, h: 8 },
  }),
  timeseries({
    title: 'Event-loop lag p99',
    description:
      'How late timers and I/O callbacks ran: heartbeats and ring messages wait this long behind a busy step.',
    queries: [{ expr: `max by (role, rank) (nodejs_eventloop_lag_p99_seconds{${JOB}})`, legend: '{{role}} {{rank}}' }],
    unit: 's',
    grid: { x: 18, y: 58, w: 6, h: 8 },
  }),
];

export const ringtrainDashboard = {
  uid: 'ringtrain',
  title: 'ringtrain',
  description:
    'Data-parallel training with ringtrain: throughput, loss and accuracy, step time per rank, all-reduce bandwidth, workers and restarts.',
  tags: ['ringtrain', 'training'],
  editable: true,
  graphTooltip: 1,
  schemaVersion: 39,
  version: 1,
  refresh: '10s',
  time: { from: 'now-1h', to: 'now' },
  timezone: 'browser',
  templating: { list: variables },
  annotations: { list: [] },
  panels,
} satisfies Dashboard;

/** The JSON as committed in ringtrain.json: two-space indent, trailing newline. */
export function dashboardJson(): string {
  return `${JSON.stringify(ringtrainDashboard, null, 2)}\n`;
}

/** Where the rendering lives in the source tree (this file runs from dist/deploy/grafana). */
export const DASHBOARD_JSON_PATH = path.resolve(__dirname, '../../../deploy/grafana/ringtrain.json');

if (require.main === module) {
  writeFileSync(DASHBOARD_JSON_PATH, dashboardJson());
  process.stdout.write(`wrote ${DASHBOARD_JSON_PATH}\n`);
}
