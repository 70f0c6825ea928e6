/**
 * The admin console's overview, for every console role: the organisation's mail flow over the last 48
 * hours, 30 days or 26 weeks, in the reader's time zone, as Fluent line charts (mail in and out and what
 * became of it; what MailGuard stopped; the portal's messages sent and opened) with the totals above and
 * the numbers in a table below for those who read rather than look. GET /api/portal/admin/overview.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useEffect, useMemo, useState } from 'react';
import { Spinner, Subtitle1, ToggleButton, makeStyles, tokens } from '@fluentui/react-components';
import { LineChart, ResponsiveContainer, type LineChartPoints } from '@fluentui/react-charts';
import { FLOW_SERIES, type FlowRange, type FlowSeries, type MailFlow } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { Notice, PageTitle, usePageStyles, useTableStyles } from './common.tsx';

type Range = FlowRange;
type Series = FlowSeries;
const SERIES = FLOW_SERIES;

/** The charts and what each shows, with colours from Fluent's palette that stay apart for most eyes. */
const CHARTS: Array<{ title: MessageKey; series: Array<{ key: Series; colour: string }> }> = [
  {
    title: 'overviewFlow',
    series: [
      { key: 'inbound', colour: tokens.colorPaletteBlueForeground2 },
      { key: 'outbound', colour: tokens.colorPaletteTealForeground2 },
      { key: 'delivered', colour: tokens.colorPaletteGreenForeground2 },
      { key: 'deferred', colour: tokens.colorPaletteMarigoldForeground2 },
      { key: 'bounced', colour: tokens.colorPaletteRedForeground2 },
    ],
  },
  {
    title: 'overviewGuard',
    series: [
      { key: 'flagged', colour: tokens.colorPaletteMarigoldForeground2 },
      { key: 'quarantined', colour: tokens.colorPaletteBerryForeground2 },
      { key: 'rejected', colour: tokens.colorPaletteRedForeground2 },
      { key: 'held', colour: tokens.colorPaletteDarkOrangeForeground2 },
    ],
  },
  {
    title: 'overviewPortal',
    series: [
      { key: 'portalSent', colour: tokens.colorPaletteBlueForeground2 },
      { key: 'portalOpened', colour: tokens.colorPaletteGreenForeground2 },
    ],
  },
];

const useStyles = makeStyles({
  ranges: { display: 'flex', gap: tokens.spacingHorizontalS, flexWrap: 'wrap' },
  totals: {
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fill, minmax(140px, 1fr))',
    gap: tokens.spacingHorizontalM,
    alignSelf: 'stretch',
    margin: 0,
  },
  total: {
    display: 'flex',
    flexDirection: 'column-reverse',
    padding: tokens.spacingHorizontalM,
    borderRadius: tokens.borderRadiusMedium,
    backgroundColor: tokens.colorNeutralBackground2,
  },
  figure: { margin: 0, fontSize: tokens.fontSizeHero700, lineHeight: tokens.lineHeightHero700, fontWeight: tokens.fontWeightSemibold },
  label: { color: tokens.colorNeutralForeground2 },
  chart: { alignSelf: 'stretch', minWidth: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  numbers: { alignSelf: 'stretch', overflowX: 'auto' },
});

export function OverviewPage() {
  const { t, formatDate, formatDay, language } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const [range, setRange] = useState<Range>('days');
  const [flow, setFlow] = useState<MailFlow | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const timeZone = useMemo(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', []);

  useEffect(() => {
    let live = true;
    setFlow(undefined);
    setFailure(undefined);
    api
      .get<MailFlow>(`/api/portal/admin/overview?${new URLSearchParams({ range, timeZone })}`)
      .then((answer) => live && setFlow(answer))
      .catch((error: unknown) => live && setFailure(problemDetail(error, t)));
    return () => {
      live = false;
    };
  }, [range, timeZone, t]);

  const bucketLabel = (iso: string) => (range === 'hours' ? formatDate(iso) : formatDay(iso));
  const seriesName = (key: Series) => t(`overview_${key}` as MessageKey);

  return (
    <div className={page.stack}>
      <PageTitle>{t('overviewTitle')}</PageTitle>
      <div className={styles.ranges} role="group" aria-label={t('overviewRange')}>
        {(['hours', 'days', 'weeks'] as const).map((r) => (
          <ToggleButton key={r} checked={range === r} onClick={() => setRange(r)}>
            {t(`overviewRange_${r}` as MessageKey)}
          </ToggleButton>
        ))}
      </div>
      {failure && <Notice intent="error">{failure}</Notice>}
      {!flow && !failure && <Spinner label={t('loading')} />}
      {flow && (
        <>
          <dl className={styles.totals} aria-label={t('overviewTotals')}>
            {(['inbound', 'outbound', 'quarantined', 'portalSent'] as const).map((key) => (
              <div key={key} className={styles.total}>
                <dt className={styles.label}>{seriesName(key)}</dt>
                <dd className={styles.figure}>{flow.totals[key].toLocaleString(language)}</dd>
              </div>
            ))}
          </dl>
          {CHARTS.map((chart) => {
            const lines: LineChartPoints[] = chart.series.map(({ key, colour }) => ({
              legend: seriesName(key),
              color: colour,
              data: flow.buckets.map((b) => ({ x: new Date(b.start), y: b[key] })),
            }));
            return (
              <section key={chart.title} className={styles.chart} aria-label={t(chart.title)}>
                <Subtitle1 as="h2">{t(chart.title)}</Subtitle1>
                <ResponsiveContainer height={260}>
                  <LineChart data={{ chartTitle: t(chart.title), lineChartData: lines }} culture={language === 'de' ? 'de-DE' : 'en-GB'} />
                </ResponsiveContainer>
              </section>
            );
          })}
          <details className={styles.numbers}>
            <summary>{t('overviewNumbers')}</summary>
            <table className={styles.table}>
              <caption className={styles.caption}>{t('overviewNumbersCaption', { zone: flow.timeZone })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('overviewPeriod')}</th>
                  {SERIES.map((key) => (
                    <th key={key} scope="col">
                      {seriesName(key)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {flow.buckets.map((b) => (
                  <tr key={b.start}>
                    <th scope="row" className={styles.nowrap}>
                      {bucketLabel(b.start)}
                    </th>
                    {SERIES.map((key) => (
                      <td key={key}>{b[key]}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </div>
  );
}
