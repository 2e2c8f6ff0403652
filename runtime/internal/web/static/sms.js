// SMS segment counting for the composer, exactly as package sms counts
// them on the server (runtime/internal/channels/sms): keep the two in step.
// TestSMSSegmentsJSMatchesGo runs the same table (package smstest) through
// both.
//
// GSM-7 text: 160 septets in one part, 153 per part once split; the
// extension characters take two septets and are never split from their
// escape. Any other character makes the text UCS-2: 70 UTF-16 code units in
// one part, 67 per part once split; a surrogate pair (most emoji) counts
// two and is never split.
var SwitchboardSMS = (function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";

  function inSet(set, c) { return c.length === 1 && set.indexOf(c) >= 0; }

  // count returns {parts, encoding, units} for text.
  function count(text) {
    var chars = Array.from(text || ""); // code points; a lone surrogate is one
    var gsm = chars.every(function (c) { return inSet(BASIC, c) || inSet(EXTENSION, c); });
    var weight = gsm
      ? function (c) { return inSet(EXTENSION, c) ? 2 : 1; }
      : function (c) { return c.length; };
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var units = 0, i;
    for (i = 0; i < chars.length; i++) units += weight(chars[i]);
    var parts = 0;
    if (units > 0 && units <= single) {
      parts = 1;
    } else if (units > single) {
      // Fill each part greedily, never cutting a character's units.
      var used = 0;
      parts = 1;
      for (i = 0; i < chars.length; i++) {
        var w = weight(chars[i]);
        if (used + w > multi) { parts++; used = 0; }
        used += w;
      }
    }
    return { parts: parts, encoding: gsm ? "GSM-7" : "UCS-2", units: units };
  }

  // describe is the composer's line under the reply box.
  function describe(text) {
    var c = count(text);
    var room = c.parts <= 1 ? (c.encoding === "GSM-7" ? 160 : 70) : c.parts * (c.encoding === "GSM-7" ? 153 : 67);
    return c.parts + (c.parts === 1 ? " SMS segment" : " SMS segments") + " · " + c.encoding + " · " + c.units + "/" + room;
  }

  return { count: count, describe: describe };
})();
