// Tells the server the browser's time zone in a cookie, on every page: a
// member who chose no zone on their profile sees times in this one.
(function () {
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(tz)) return;
  var have = document.cookie.split("; ").indexOf("tz=" + tz) >= 0;
  if (have) return;
  document.cookie = "tz=" + tz + "; path=/; max-age=31536000; samesite=lax" +
    (location.protocol === "https:" ? "; secure" : "");
})();
