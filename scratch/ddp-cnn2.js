const H=require('/work/wt-perf/dist/test/unit/train-harness.js'); const tf=require('@tensorflow/tfjs-core');
const {DEFAULT_JOB}=require('/work/wt-perf/dist/src/config/job-spec.js'); const T=require('/work/wt-perf/dist/src/train');
const CNN={...DEFAULT_JOB.model, kind:'cnn', channels:[4,8], hidden:[16]};
(async()=>{ const data=await H.mnistSlice(40*64,100);
  let model, layout, n=0;
  const orig=T.FusedStep.prototype.run;
  T.FusedStep.prototype.run=function(params, grads, x, y, rows, acc, loss){
    const r=orig.call(this, params, grads, x, y, rows, acc, loss);
    layout.writeWeights(params); const gT=new Float32Array(layout.size);
    const loc=T.forwardBackward(model,layout,x,y,rows); layout.packGradients(loc.grads,gT,false); tf.dispose(Object.values(loc.grads));
    const bad=[]; for (const sl of layout.slots) { let d=0,m=0,at=-1; for(let i=sl.offset;i<sl.offset+sl.size;i++){const e=Math.abs(gT[i]-grads[i]); if(e>d){d=e;at=i-sl.offset;} m=Math.max(m,Math.abs(gT[i]));} if (d/m>1e-5) bad.push(`${sl.name} ${(d/m).toExponential(2)} at ${at} (${gT[sl.offset+at]} vs ${grads[sl.offset+at]})`); }
    if (bad.length) console.log('step', n, 'rows', rows, bad.join('; '));
    n++; return r; };
  const spec=H.specWith({model:CNN, data:{batchSize:64}, train:{epochs:1, maxSteps:12}});
  await H.trainRanks({world:1, spec, data, model:(r)=>{ model=T.buildModel(CNN,[784],10,spec.seed+r); layout=T.ParamLayout.ofModel(model); return model;}});
})();
(async()=>{ await new Promise(r=>setTimeout(r,3000));
 const data=await H.mnistSlice(40*64,100);
 const run=async(fusedStep)=>{ const spec=H.specWith({model:CNN, data:{batchSize:64}, train:{epochs:1, maxSteps:12, fusedStep}}); const runs=await H.trainRanks({world:1, spec, data, model:(r)=>T.buildModel(CNN,[784],10,spec.seed+r)}); return runs[0].weights; };
 const c=await run('off'); const a=await run('auto');
 console.log('after patch: fused v tfjs', H.relativeDifference(a,c).toExponential(2));
})();
