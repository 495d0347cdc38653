const D=require('/work/wt-perf/dist/src/data'); const {train}=D.loadMnist({trainLimit:60000,testLimit:1});
const x=new Float32Array(64*784), idx=new Int32Array(64);
for(let s=0;s<20000;s++){ for(let i=0;i<64;i++) idx[i]=(s*64+i*7919)%train.count; D.gatherRows(train, idx, 784, x);}
