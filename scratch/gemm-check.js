const {nativeFusedStep}=require('/work/wt-perf/dist/src/native'); const n=nativeFusedStep();
function check(rows, cin, cout, act) {
  const plan=Int32Array.from([0,act,1,1,cin,cout,0,0,0,0,cin*cout, 0,0,1,1,cout,3,0,0,0,cin*cout+cout,-1]);
  const params=new Float32Array(cin*cout+cout+cout*3).map((_,i)=>Math.sin(i*0.1)); const x=new Float32Array(rows*cin).map((_,i)=>Math.cos(i*0.3));
  // reference of first layer only: use a plan ending in a dense of logits (identity-ish)
  const out=new Float32Array(rows*3); n.fusedForward(plan,params,x,rows,out);
  const ref=new Float64Array(rows*3);
  for(let r=0;r<rows;r++){ const h=new Float64Array(cout); for(let j=0;j<cout;j++){let s=params[cin*cout+j]; for(let p=0;p<cin;p++) s+=x[r*cin+p]*params[p*cout+j]; h[j]= act===1? Math.max(0,s):s;}
    for(let c=0;c<3;c++){let s=0; for(let j=0;j<cout;j++) s+=h[j]*params[cin*cout+cout+j*3+c]; ref[r*3+c]=s;}}
  let d=0,m=0; for(let i=0;i<out.length;i++){d=Math.max(d,Math.abs(out[i]-ref[i])); m=Math.max(m,Math.abs(ref[i]));}
  console.log(rows,cin,cout,'rel',(d/m).toExponential(2));
}
for (const k of [300,384,385,784,1600,3000]) check(13,k,40,1);
