package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// parseMoney reads "1234.50" into minor units. Only digits and one decimal
// point are accepted: "1,200" could mean 1200 or 1.2 depending on the
// reader's locale, so it is refused rather than guessed.
func parseMoney(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	whole, frac, hasDot := strings.Cut(v, ".")
	if !allDigits(whole) || (hasDot && !allDigits(frac)) {
		return 0, errors.New("want an amount such as 1200 or 99.90")
	}
	if len(frac) > 2 {
		return 0, errors.New("at most two decimals")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1e13 {
		return 0, errors.New("want an amount below 10,000,000,000,000")
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// formatMoney shows minor units as "EUR 1,200.50".
func formatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	whole := strconv.FormatInt(minor/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s %s%s.%02d", currency, sign, b.String(), minor%100)
}

// dealValue shows a deal's value, or "no value" when it has none: a deal
// nobody priced yet is not worth 0.
func dealValue(minor *int64, currency string) string {
	if minor == nil {
		return "no value"
	}
	return formatMoney(*minor, currency)
}

// parseDealValue is parseMoney for a deal's value field: empty is no value
// (nil), not 0.
func parseDealValue(v string) (*int64, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	m, err := parseMoney(v)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// formatAmount shows minor units as a form's value field takes them back:
// "1200.50".
func formatAmount(minor *int64) string {
	if minor == nil {
		return ""
	}
	return fmt.Sprintf("%d.%02d", *minor/100, *minor%100)
}
