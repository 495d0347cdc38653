const {nativeUpdates}=require('/work/wt-perf/dist/src/native');
const u=nativeUpdates(); const n=101770;
const p=new Float32Array(n).fill(0.1), g=new Float32Array(n).fill(0.01), b=new Float32Array(n);
for(let i=0;i<30000;i++) u.sgd(p,g,b,0.9,0,0.01,0);
