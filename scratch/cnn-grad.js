const path='/work/wt-perf/dist/src/';
const tf=require('@tensorflow/tfjs-core'); const {selectBackend}=require(path+'compute'); const T=require(path+'train');
(async()=>{ await selectBackend('wasm');
 const spec={kind:'cnn', hidden:[16], activation:'relu', dropout:0, channels:[4,8], blocks:1, module:'', layers:[]};
 const model=T.buildModel(spec,[784],10,42); const layout=T.ParamLayout.ofModel(model); const {step}=T.FusedStep.of(model,layout,{});
 for (const B of [16, 32, 37, 64]) {
 const x=new Float32Array(B*784).map((_,i)=>Math.sin(i*0.37+1)); const y=new Int32Array(B).map((_,i)=>(i*7)%10);
 const params=new Float32Array(layout.size); layout.readWeights(params); const gT=new Float32Array(layout.size), gF=new Float32Array(layout.size);
 const loc=T.forwardBackward(model,layout,x,y,B); layout.packGradients(loc.grads,gT,false); tf.dispose(Object.values(loc.grads));
 step.run(params,gF,x,y,B,false,{});
 for (const s of layout.slots) { let d=0,m=0; for(let i=s.offset;i<s.offset+s.size;i++){d=Math.max(d,Math.abs(gT[i]-gF[i])); m=Math.max(m,Math.abs(gT[i]));} if (d/m>1e-5) console.log(B, s.name, (d/m).toExponential(2)); }
 console.log('rows', B, 'done'); }
})();
