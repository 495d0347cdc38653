const path='/work/wt-perf/dist/src/';
const tf=require('@tensorflow/tfjs-core');
const {selectBackend}=require(path+'compute');
const T=require(path+'train');
(async()=>{
  await selectBackend('wasm');
  const kind=process.argv[2]||'mlp';
  const spec={kind, hidden:[128], activation:'relu', dropout:0, channels:[], blocks:1, module:'', layers:[]};
  const model=T.buildModel(spec,[784],10,42);
  const layout=T.ParamLayout.ofModel(model);
  const {step, why}=T.FusedStep.of(model, layout, {});
  console.log('fused:', step? 'yes':'no', why||'', step && Array.from(step.plan).join(','));
  const B=64; const x=new Float32Array(B*784).map((_,i)=>Math.sin(i*0.37)); const y=new Int32Array(B).map((_,i)=>i%10);
  const params=new Float32Array(layout.size); layout.readWeights(params);
  const gT=new Float32Array(layout.size), gF=new Float32Array(layout.size);
  const loc=T.forwardBackward(model, layout, x, y, B); layout.packGradients(loc.grads, gT, false); tf.dispose(Object.values(loc.grads));
  const r=step.run(params, gF, x, y, B, false, {});
  let d=0,n=0; for(let i=0;i<gT.length;i++){d=Math.max(d,Math.abs(gT[i]-gF[i])); n=Math.max(n,Math.abs(gT[i]));}
  console.log('loss', loc.loss, r.loss, 'correct', loc.correct, r.correct, 'maxdiff', d, 'maxgrad', n);
  const N=kind==='mlp'?2000:100;
  for (const [name, fn] of [['tfjs', ()=>{const l=T.forwardBackward(model, layout, x, y, B); layout.packGradients(l.grads, gT, false); tf.dispose(Object.values(l.grads));}], ['fused', ()=>step.run(params, gF, x, y, B, false, {})]]) {
    for(let i=0;i<N/5;i++) fn();
    const t0=process.hrtime.bigint(); for(let i=0;i<N;i++) fn(); const s=Number(process.hrtime.bigint()-t0)/1e9;
    console.log(name, (s/N*1e3).toFixed(3),'ms/step', (N*B/s).toFixed(0),'samples/s');
  }
})();
