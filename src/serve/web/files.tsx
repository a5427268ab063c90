import { useMemo } from "preact/hooks";
import type { FileInfo } from "./api.js";
import { fileSize } from "./format.js";

interface Dir {
  dirs: Map<string, Dir>;
  files: FileInfo[];
  size: number;
}

function buildTree(files: FileInfo[]): Dir {
  const root: Dir = { dirs: new Map(), files: [], size: 0 };
  for (const f of files) {
    const parts = f.path.split("/");
    let d = root;
    d.size += f.size;
    for (const p of parts.slice(0, -1)) {
      let next = d.dirs.get(p);
      if (!next) d.dirs.set(p, (next = { dirs: new Map(), files: [], size: 0 }));
      next.size += f.size;
      d = next;
    }
    d.files.push(f);
  }
  return root;
}

function DirView({ dir, chosen, onChoose, depth }: { dir: Dir; chosen: string | undefined; onChoose: (f: FileInfo) => void; depth: number }) {
  return (
    <ul class="tree">
      {[...dir.dirs].map(([name, sub]) => (
        <li key={name}>
          <details open={depth < 1 || sub.files.length + sub.dirs.size < 8}>
            <summary>
              <span class="folder">{name}/</span> <span class="muted">{fileSize(sub.size)}</span>
            </summary>
            <DirView dir={sub} chosen={chosen} onChoose={onChoose} depth={depth + 1} />
          </details>
        </li>
      ))}
      {dir.files.map((f) => (
        <li key={f.path}>
          <button type="button" class={`file${chosen === f.path ? " chosen" : ""}`} onClick={() => onChoose(f)}>
            <span>{f.path.slice(f.path.lastIndexOf("/") + 1)}</span>
            <span class="muted">{fileSize(f.size)}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A run's files as a tree of folders with sizes; choosing a file previews it. */
export function FileTree({ files, chosen, onChoose }: { files: FileInfo[]; chosen: string | undefined; onChoose: (f: FileInfo) => void }) {
  const tree = useMemo(() => buildTree(files), [files]);
  if (files.length === 0) return <p class="muted">No files.</p>;
  return <DirView dir={tree} chosen={chosen} onChoose={onChoose} depth={0} />;
}
