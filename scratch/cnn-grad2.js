const path='/work/wt-perf/dist/src/';
const tf=require('@tensorflow/tfjs-core'); const {selectBackend}=require(path+'compute'); const T=require(path+'train'); const D=require(path+'data');
(async()=>{ await selectBackend('wasm');
 const spec={kind:'cnn', hidden:[16], activation:'relu', dropout:0, channels:[4,8], blocks:1, module:'', layers:[]};
 const model=T.buildModel(spec,[784],10,42); const layout=T.ParamLayout.ofModel(model); const {step}=T.FusedStep.of(model,layout,{});
 const {train}=D.loadMnist({trainLimit:4096,testLimit:1}); const B=64;
 const params=new Float32Array(layout.size); layout.readWeights(params);
 for (let s=0;s<12;s++){
  const idx=new Int32Array(B).map((_,i)=>s*B+i); const x=new Float32Array(B*784); D.gatherRows(train, idx, 784, x); const y=new Int32Array(B).map((_,i)=>train.labels[s*B+i]);
  layout.writeWeights(params);
  const gT=new Float32Array(layout.size), gF=new Float32Array(layout.size);
  const loc=T.forwardBackward(model,layout,x,y,B); layout.packGradients(loc.grads,gT,false); tf.dispose(Object.values(loc.grads));
  step.run(params,gF,x,y,B,false,{});
  const bad=[]; for (const sl of layout.slots) { let d=0,m=0,at=-1; for(let i=sl.offset;i<sl.offset+sl.size;i++){const e=Math.abs(gT[i]-gF[i]); if(e>d){d=e;at=i-sl.offset;} m=Math.max(m,Math.abs(gT[i]));} if (d/m>1e-4) bad.push(`${sl.name} ${(d/m).toExponential(2)} at ${at}`); }
  console.log('step', s, bad.join('; '));
  for (let i=0;i<params.length;i++) params[i]-=0.01*gT[i];
 }})();
