/**
 * The tenant's look in the portal: its name and logo in the header and its colour as Fluent's brand ramp.
 * Signed in, the session carries it; on a link's open page the link names it by an opaque key
 * (GET /api/portal/branding/:key). Without either the portal looks like Sealpost.
 */
import { useEffect, useMemo, useState } from 'react';
import { createLightTheme, webLightTheme, type BrandVariants, type Theme } from '@fluentui/react-components';
import { brandRamp, parseHexColour } from '../../common/src/brand-colour.ts';
import { OPEN_LINK_BRAND_PARAM, OPEN_LINK_PATH, type PortalBranding } from '../../common/src/portal-api.ts';
import { withoutTrailingSlashes } from '../../common/src/trailing-slashes.ts';
import { api } from './api.ts';

/** Fluent's light theme built on the tenant's colour; Sealpost's own theme without one. */
export function themeFor(colour: string | undefined): Theme {
  const rgb = colour ? parseHexColour(colour) : undefined;
  if (!rgb) return webLightTheme;
  return createLightTheme(brandRamp(rgb) as BrandVariants);
}

export function useBrandTheme(branding: PortalBranding | undefined): Theme {
  const colour = branding?.colour;
  return useMemo(() => themeFor(colour), [colour]);
}

/** The key an open link carries for its tenant's branding, read once from the address the page was loaded with. */
function linkBrandingKey(): string | undefined {
  if (withoutTrailingSlashes(window.location.pathname) !== OPEN_LINK_PATH) return undefined;
  const key = new URLSearchParams(window.location.search).get(OPEN_LINK_BRAND_PARAM) ?? '';
  return /^[\w-]{1,64}$/.test(key) ? key : undefined;
}

/** The branding an open link names, until a session brings its own. */
export function useLinkBranding(): PortalBranding | undefined {
  const [branding, setBranding] = useState<PortalBranding | undefined>();
  useEffect(() => {
    const key = linkBrandingKey();
    if (!key) return;
    let live = true;
    api.get<PortalBranding>(`/api/portal/branding/${encodeURIComponent(key)}`, { quiet: true }).then(
      (answer) => live && setBranding(answer),
      // Without its branding the page still works in Sealpost's look.
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, []);
  return branding;
}
