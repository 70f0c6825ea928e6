/**
 * How dates are written to people, in one place for the portal and the mails the gateway writes:
 * German as 02.12.2026, 14:05; English in the reader's own English locale (en-GB 02/12/2026, 14:05;
 * en-US 12/02/2026, 2:05 PM). Always numeric day, month and four-digit year, hours and minutes.
 */

export type DateLanguage = 'en' | 'de';

/**
 * The locale for a UI language: German is de-DE; English follows the first English locale the reader
 * prefers (navigator.languages), en-GB when none is known.
 */
export function dateLocale(language: DateLanguage, preferred: readonly string[] = []): string {
  if (language === 'de') return 'de-DE';
  const english = preferred.find((tag) => /^en(?:-|$)/i.test(tag) && tag.length <= 35);
  if (english && english.toLowerCase() !== 'en') {
    try {
      return Intl.DateTimeFormat.supportedLocalesOf([english])[0] ?? 'en-GB';
    } catch {
      return 'en-GB';
    }
  }
  return 'en-GB';
}

export interface DateFormatters {
  /** Date and time: 02.12.2026, 14:05 */
  dateTime: (date: Date) => string;
  /** The day only: 02.12.2026 */
  day: (date: Date) => string;
}

/** timeZone: undefined is the reader's own zone (the browser); mails pass 'UTC' and say so. */
export function dateFormatters(locale: string, timeZone?: string): DateFormatters {
  const zone = timeZone ? { timeZone } : {};
  const dayParts = { day: '2-digit', month: '2-digit', year: 'numeric' } as const;
  const dateTime = new Intl.DateTimeFormat(locale, { ...dayParts, hour: '2-digit', minute: '2-digit', ...zone });
  const day = new Intl.DateTimeFormat(locale, { ...dayParts, ...zone });
  return { dateTime: (date) => dateTime.format(date), day: (date) => day.format(date) };
}
