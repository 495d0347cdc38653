const {nativeUpdates}=require('/work/wt-perf/dist/src/native');
const u=nativeUpdates(); const n=101770;
const p=new Float32Array(n).fill(0.1), g=new Float32Array(n).fill(0.01), b=new Float32Array(n);
const cpu=(f,N)=>{for(let i=0;i<N/10;i++)f(); const c0=process.cpuUsage(); for(let i=0;i<N;i++) f(); const c=process.cpuUsage(c0); return ((c.user+c.system)/N).toFixed(1)+' us';};
console.log('sgd', cpu(()=>u.sgd(p,g,b,0.9,0,0.01,0),10000), 'sumsq', cpu(()=>u.sumSquares(g),10000), 'fill', cpu(()=>g.fill(0),10000));
