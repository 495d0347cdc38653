const {nativeFusedStep}=require('/work/wt-perf/dist/src/native'); const n=nativeFusedStep();
function dense(rows, cin, cout) {
  const plan=Int32Array.from([0,0,1,1,cin,cout,0,0,0,0,-1]);
  const params=new Float32Array(cin*cout).map((_,i)=>Math.sin(i)); const x=new Float32Array(rows*cin).map((_,i)=>Math.cos(i)); const out=new Float32Array(rows*cout);
  const N=Math.max(20, Math.round(2e9/(2*rows*cin*cout)));
  for(let i=0;i<N/10;i++) n.fusedForward(plan,params,x,rows,out);
  const c0=process.cpuUsage(); for(let i=0;i<N;i++) n.fusedForward(plan,params,x,rows,out); const c=process.cpuUsage(c0);
  const s=(c.user+c.system)/1e6/N; return (2*rows*cin*cout/s/1e9).toFixed(1);
}
for (const [m,k,nn] of [[64,784,128],[784,64,128],[7744,288,64],[288,7744,64],[7744,64,288],[64,1600,128],[43264,9,32]]) console.log(`M=${m} K=${k} N=${nn}: ${dense(m,k,nn)} GFLOP/s`);
console.log('peak', n.peakGflops(1).toFixed(1));
