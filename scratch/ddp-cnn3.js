const H=require('/work/wt-perf/dist/test/unit/train-harness.js');
const {DEFAULT_JOB}=require('/work/wt-perf/dist/src/config/job-spec.js'); const T=require('/work/wt-perf/dist/src/train');
const CNN={...DEFAULT_JOB.model, kind:'cnn', channels:[4,8], hidden:[16]};
(async()=>{ const data=await H.mnistSlice(40*64,100);
 const run=async(fusedStep)=>{ const snaps=[]; const spec=H.specWith({model:CNN, data:{batchSize:64}, train:{epochs:1, maxSteps:12, fusedStep}});
   await H.trainRanks({world:1, spec, data, model:(r)=>T.buildModel(CNN,[784],10,spec.seed+r), hooks:(rank, loop)=>({onStep:()=>snaps.push(loop().params.slice())})}); return snaps; };
 const c=await run('off'); const a=await run('auto');
 const layout=T.ParamLayout.ofModel(T.buildModel(CNN,[784],10,1));
 for (let s=0;s<a.length;s++){ const per=layout.slots.map(sl=>H.relativeDifference(c[s].subarray(sl.offset,sl.offset+sl.size), a[s].subarray(sl.offset,sl.offset+sl.size)).toExponential(1)); console.log(s+1, H.relativeDifference(c[s],a[s]).toExponential(2), per.join(' ')); }
})();
