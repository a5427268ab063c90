import { showValue } from "./format.js";

/** A two-column table of names and values (flags, attributes, platform). */
export function KeyValues({ data, empty }: { data: Record<string, unknown>; empty: string }) {
  const keys = Object.keys(data).sort();
  if (keys.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th class="mono">{k}</th>
            <td class="mono">{showValue(data[k])}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
