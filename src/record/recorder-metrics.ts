/**
 * Prometheus series for the training diagnostics, so dashboards and alerts see them too:
 * gradient norms and update ratios per layer, warnings by kind. Layer names are bounded by the
 * model, kinds by the code. Registry injected, as for every other metric.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface DiagnosticsMetrics {
  gradientNorm: Gauge<'rank' | 'layer'>;
  updateRatio: Gauge<'rank' | 'layer'>;
  warnings: Counter<'rank' | 'kind'>;
}

export function createDiagnosticsMetrics(registry: Registry): DiagnosticsMetrics {
  return {
    gradientNorm: new Gauge({
      name: 'ringtrain_gradient_norm',
      help: 'L2 norm of the averaged gradient at the last diagnosed step, per layer (layer="global" for all)',
      labelNames: ['rank', 'layer'] as const,
      registers: [registry],
    }),
    updateRatio: new Gauge({
      name: 'ringtrain_update_to_weight_ratio',
      help: "Norm of the last diagnosed step's weight update over the norm of the weights, per layer",
      labelNames: ['rank', 'layer'] as const,
      registers: [registry],
    }),
    warnings: new Counter({
      name: 'ringtrain_training_warnings_total',
      help: 'Training diagnostics warnings (vanishing-gradient, exploding-gradient, non-finite-gradient, overfitting)',
      labelNames: ['rank', 'kind'] as const,
      registers: [registry],
    }),
  };
}
