// Beds ahead on a site board (issue #18): admissions in the next 4, 8 and 24 hours as
// probabilities, expected discharges and the chance of running out (docs/analytics.md).
import { useEffect, useState } from "preact/hooks";
import { getJson } from "../api";
import type { components } from "../openapi";

export type Forecast = components["schemas"]["BedForecast"];
const REFRESH_MS = 5 * 60_000;

/** Each site's forecast, loaded now and every 5 minutes. */
export function useForecasts(token: string, sites: string[]): Record<string, Forecast> {
  const [forecasts, setForecasts] = useState<Record<string, Forecast>>({});
  const key = sites.join(",");
  useEffect(() => {
    let gone = false;
    const load = () =>
      sites.forEach((site) =>
        getJson<Forecast>(token, `/api/v1/sites/${encodeURIComponent(site)}/forecast`)
          .then((answer) => !gone && setForecasts((all) => ({ ...all, [site]: answer })))
          .catch(() => undefined),
      );
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      gone = true;
      clearInterval(timer);
    };
  }, [token, key]);
  return forecasts;
}

export function ForecastTile({ token, site }: { token: string; site: string }) {
  const forecast = useForecasts(token, [site])[site];
  if (!forecast) return null;
  return (
    <section class="tile forecast" aria-label="Beds ahead" data-testid="forecast">
      <h3>
        Beds ahead{" "}
        <span class="muted">
          (from {forecast.history_attendances} past ED attendances over {forecast.history_days} days)
        </span>
      </h3>
      {forecast.opel_level_now !== null && forecast.opel_rise_4h !== null && (
        <p data-testid="opel-rise" title="If G&A occupancy moves as forecast and the other OPEL numbers stay as they are">
          Chance of OPEL {forecast.opel_level_now + 1} within 4 h: <strong>{Math.round(forecast.opel_rise_4h * 100)} %</strong>
        </p>
      )}
      <table>
        <thead>
          <tr><th scope="col">Next</th><th scope="col">Admissions, 90 % sure at least</th><th scope="col">70 %</th><th scope="col">Expected</th><th scope="col">Discharges</th><th scope="col">Beds short</th></tr>
        </thead>
        <tbody>
          {forecast.windows.map((w) => (
            <tr key={w.hours} data-hours={w.hours}>
              <td>{w.hours} h</td>
              <td>{w.admissions_at_least_90}</td>
              <td>{w.admissions_at_least_70}</td>
              <td title={`in ED now ${w.from_ed}, yet to arrive ${w.from_arrivals}, en route ${w.from_en_route}`}>{w.expected_admissions.toFixed(1)}</td>
              <td>{w.expected_discharges.toFixed(1)}</td>
              <td class={w.p_short >= 0.5 ? "short" : ""}>{Math.round(w.p_short * 100)} %</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
