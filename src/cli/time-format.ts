/**
 * Times as Gage shows them: `gage ls` uses Python `human_readable.date_time` (relative: `now`,
 * `9 seconds ago`, `a minute ago`, `3 days ago`, `1 year, 2 months ago`), `gage show` uses
 * `strftime("%x %X")` in the C locale (`11/26/26 07:41:54`, local time).
 */
export function relativeTime(thenMs: number, nowMs: number): string {
  const future = thenMs > nowMs;
  const delta = timeDelta(Math.abs(nowMs - thenMs));
  if (delta === "a moment") return "now";
  return `${delta} ${future ? "from now" : "ago"}`;
}

function timeDelta(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const totalDays = Math.floor(totalSeconds / 86400);
  const seconds = totalSeconds % 86400;
  const years = Math.floor(totalDays / 365);
  const days = totalDays % 365;
  const months = Math.floor(days / 30.5);
  if (years === 0 && days < 1) {
    if (seconds === 0) return "a moment";
    if (seconds === 1) return "a second";
    if (seconds < 60) return `${seconds} seconds`;
    if (seconds < 120) return "a minute";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} minutes`;
    if (seconds < 7200) return "an hour";
    return `${Math.floor(seconds / 3600)} hours`;
  }
  if (years === 0) {
    if (days === 1) return "a day";
    if (months === 0) return `${days} days`;
    if (months === 1) return "a month";
    return `${months} months`;
  }
  if (years === 1) {
    if (months === 0 && days === 0) return "a year";
    if (months === 0) return `1 year, ${days} days`;
    if (months === 1) return "1 year, 1 month";
    return `1 year, ${months} months`;
  }
  return `${years} years`;
}

const two = (n: number) => String(n).padStart(2, "0");

/** `%x %X` in the C locale, local time: `11/26/26 07:41:54`. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}
