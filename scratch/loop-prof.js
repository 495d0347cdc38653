const H=require('/work/wt-perf/dist/test/unit/train-harness.js');
const {DEFAULT_JOB}=require('/work/wt-perf/dist/src/config/job-spec.js');
(async()=>{
  const data=await H.mnistSlice(4096,100);
  const spec=H.specWith({model: DEFAULT_JOB.model, data:{batchSize:64}, train:{epochs:+(process.argv[2]||20), fusedStep: process.argv[3]||'auto'}});
  const t0=Date.now();
  const [r]=await H.trainRanks({world:1, spec, data});
  const s=(Date.now()-t0)/1000;
  console.log('steps', r.result.steps, 'samples/s', (r.result.steps*64/s).toFixed(0), r.error||'');
})();
