# Rasterises ui/assets/favicon.svg's shapes (rounded square, ring, arrow) with
# distance fields and 4x4 supersampling, then writes the PNG, ICO and ICNS
# files Tauri's bundlers need. Pure Python: no image library on this machine.
import math, struct, zlib, sys
BG=(0x5b,0x6c,0xff)
def seg_dist(px,py,ax,ay,bx,by):
    dx,dy=bx-ax,by-ay; t=max(0,min(1,((px-ax)*dx+(py-ay)*dy)/(dx*dx+dy*dy)))
    return math.hypot(px-(ax+t*dx),py-(ay+t*dy))
def sample(x,y):
    # in 32-unit SVG space; returns (alpha_bg, alpha_white)
    rx=7
    cx=min(max(x,rx),32-rx); cy=min(max(y,rx),32-rx)
    inside=math.hypot(x-cx,y-cy)<=rx and 0<=x<=32 and 0<=y<=32
    if not inside: return 0,0
    w=1.2
    d=min(abs(math.hypot(x-16,y-16)-8), seg_dist(x,y,12,16,20,16), seg_dist(x,y,17,13,20,16), seg_dist(x,y,20,16,17,19))
    return 1, 1 if d<=w else 0
def render(size):
    ss=4; rows=[]
    for j in range(size):
        row=bytearray()
        for i in range(size):
            a=wh=0
            for sj in range(ss):
                for si in range(ss):
                    x=(i+(si+.5)/ss)*32/size; y=(j+(sj+.5)/ss)*32/size
                    ab,aw=sample(x,y); a+=ab; wh+=aw
            n=ss*ss; alpha=a/n; white=wh/max(a,1)
            c=[round(BG[k]*(1-white)+255*white) for k in range(3)]
            row+=bytes(c+[round(alpha*255)])
        rows.append(bytes(row))
    return rows
def png(size):
    rows=render(size)
    raw=b''.join(b'\0'+r for r in rows)
    def chunk(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d)&0xffffffff)
    return b'\x89PNG\r\n\x1a\n'+chunk(b'IHDR',struct.pack('>IIBBBBB',size,size,8,6,0,0,0))+chunk(b'IDAT',zlib.compress(raw,9))+chunk(b'IEND',b'')
out=sys.argv[1]
pngs={s:png(s) for s in (16,32,64,128,256,512)}
open(f'{out}/32x32.png','wb').write(pngs[32])
open(f'{out}/128x128.png','wb').write(pngs[128])
open(f'{out}/128x128@2x.png','wb').write(pngs[256])
open(f'{out}/icon.png','wb').write(pngs[512])
# ICO with PNG entries (Vista+)
sizes=(16,32,64,128,256); hdr=struct.pack('<HHH',0,1,len(sizes)); off=6+16*len(sizes); ents=b''; data=b''
for s in sizes:
    d=pngs[s]; ents+=struct.pack('<BBBBHHII',s%256,s%256,0,0,1,32,len(d),off+len(data)); data+=d
open(f'{out}/icon.ico','wb').write(hdr+ents+data)
# ICNS with PNG entries: ic07 128, ic08 256, ic09 512
body=b''
for t,s in ((b'ic07',128),(b'ic08',256),(b'ic09',512)):
    body+=t+struct.pack('>I',8+len(pngs[s]))+pngs[s]
open(f'{out}/icon.icns','wb').write(b'icns'+struct.pack('>I',8+len(body))+body)
