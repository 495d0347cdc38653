const H=require('/work/wt-perf/dist/test/unit/train-harness.js');
const {DEFAULT_JOB}=require('/work/wt-perf/dist/src/config/job-spec.js'); const T=require('/work/wt-perf/dist/src/train');
const CNN={...DEFAULT_JOB.model, kind:'cnn', channels:[4,8], hidden:[16]};
(async()=>{ const data=await H.mnistSlice(40*64,100);
 for (const steps of [1,2,5,10,20,30,40]) {
  const run=async(world,fusedStep)=>{ const spec=H.specWith({model:CNN, data:{batchSize:64/world}, train:{epochs:1, maxSteps:steps, fusedStep}}); const runs=await H.trainRanks({world, spec, data, model:(r)=>T.buildModel(CNN,[784],10,spec.seed+r)}); return runs[0].weights; };
  const a=await run(1,'auto'), b=await run(2,'auto'), c=await run(1,'off'), d=await run(2,'off');
  console.log(steps, 'fused 1v2', H.relativeDifference(a,b).toExponential(2), 'tfjs 1v2', H.relativeDifference(c,d).toExponential(2), 'fused v tfjs', H.relativeDifference(a,c).toExponential(2));
 }})();
