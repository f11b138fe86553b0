# Summarizes a V8 .cpuprofile: self time and inclusive time per function.
# Usage: python3 cpuprofile.py FILE [N]
import json,sys,collections
p=json.load(open(sys.argv[1]))
nodes={n['id']:n for n in p['nodes']}
parent={}
for n in p['nodes']:
    for c in n.get('children',[]): parent[c]=n['id']
dt=collections.Counter()
samples=p['samples']; deltas=p['timeDeltas']
for s,d in zip(samples,deltas): dt[s]+=d
self_t=collections.Counter(); incl=collections.Counter()
def name(n):
    cf=n['callFrame']; return '%s %s:%d'%(cf['functionName'] or '(anon)', cf['url'].split('/')[-1], cf['lineNumber'])
for nid,t in dt.items():
    self_t[name(nodes[nid])]+=t
    seen=set(); x=nid
    while x is not None:
        k=name(nodes[x])
        if k not in seen: incl[k]+=t; seen.add(k)
        x=parent.get(x)
tot=sum(dt.values())
print('total ms',tot/1000)
print('--- self');
for k,v in self_t.most_common(25): print('%8.0f ms %s'%(v/1000,k))
print('--- inclusive')
for k,v in incl.most_common(int(sys.argv[2]) if len(sys.argv)>2 else 40): print('%8.0f ms %s'%(v/1000,k))
