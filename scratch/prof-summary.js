const fs=require('fs'); const p=JSON.parse(fs.readFileSync(process.argv[2]));
const self=new Map(); const byId=new Map(p.nodes.map(n=>[n.id,n]));
const dt=p.timeDeltas; let total=0;
p.samples.forEach((id,i)=>{const n=byId.get(id); const k=n.callFrame.functionName+' '+(n.callFrame.url||'').split('/').slice(-2).join('/')+':'+n.callFrame.lineNumber; self.set(k,(self.get(k)||0)+dt[i]); total+=dt[i];});
[...self.entries()].sort((a,b)=>b[1]-a[1]).slice(0,+(process.argv[3]||30)).forEach(([k,v])=>console.log((100*v/total).toFixed(1).padStart(5)+'%',k));
