"""The simulated F&O universe: 5 indices and 208 stocks, with spot levels, vols and lot sizes.

Where it sits: the bottom of ``nsechain.sim``. ``market.py`` builds chains for these underlyings,
``render.py`` serves them as ``/api/underlying-information``. Symbols and company names follow
NSE's 2026 list (including ``M&M``, ``GVT&D``, ``BAJAJ-AUTO``, ``NAM-INDIA``); prices are rough
2026 levels and only need to be plausible. Nothing here reads files at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INDICES", "STOCKS", "UNIVERSE", "Underlying", "by_symbol"]


@dataclass(frozen=True, slots=True)
class Underlying:
    """One F&O underlying and the static parameters of its simulated market."""

    symbol: str
    name: str  #: NSE's display name (the ``underlying`` field of underlying-information)
    is_index: bool
    price: float  #: typical spot level; each day's close wanders around it
    lot: int  #: 2026 lot size (contracts are quoted in lots, quantities in shares)
    vol: float  #: at-the-money implied volatility, annualised (0.13 = 13 %)
    step: float  #: strike interval near the money
    liquidity: float  #: open-interest scale of the nearest expiry's busiest strike (contracts)
    serial: int  #: 1-based position in NSE's list


# symbol, display name, spot, lot, vol, strike step, liquidity (OI contracts)
_INDEX_ROWS: tuple[tuple[str, str, float, int, float, float, float], ...] = (
    ("NIFTY", "Nifty 50", 25400.0, 65, 0.12, 50.0, 400_000.0),
    ("BANKNIFTY", "Nifty BANK", 56800.0, 30, 0.14, 100.0, 120_000.0),
    ("FINNIFTY", "Nifty FINANCIAL SERVICES", 27100.0, 60, 0.13, 50.0, 12_000.0),
    ("MIDCPNIFTY", "Nifty MIDCAP SELECT", 13200.0, 120, 0.16, 25.0, 30_000.0),
    ("NIFTYNXT50", "Nifty NEXT 50", 68500.0, 25, 0.15, 100.0, 1_500.0),
)

# "symbol|display name|spot|lot" (lot 0: derived from a contract value of about 7.5 lakh).
# Ordered as NSE orders the list: by display name.
_STOCK_ROWS: tuple[str, ...] = (
    "360ONE|360 ONE WAM LIMITED|1150|0",
    "ABB|ABB India Limited|5600|0",
    "APLAPOLLO|APL Apollo Tubes Limited|1700|0",
    "AUBANK|AU Small Finance Bank Limited|780|0",
    "ADANIENSOL|Adani Energy Solutions Limited|900|0",
    "ADANIENT|Adani Enterprises Limited|2400|0",
    "ADANIGREEN|Adani Green Energy Limited|1000|0",
    "ADANIPORTS|Adani Ports and Special Economic Zone Limited|1400|0",
    "ADANIPOWER|Adani Power Limited|150|0",
    "ABCAPITAL|Aditya Birla Capital Limited|290|0",
    "ALKEM|Alkem Laboratories Limited|5400|0",
    "AMBER|Amber Enterprises India Limited|7200|0",
    "AMBUJACEM|Ambuja Cements Limited|570|0",
    "ANGELONE|Angel One Limited|2500|0",
    "APOLLOHOSP|Apollo Hospitals Enterprise Limited|7600|0",
    "ASHOKLEY|Ashok Leyland Limited|130|0",
    "ASIANPAINT|Asian Paints Limited|2450|0",
    "ASTRAL|Astral Limited|1450|0",
    "AUROPHARMA|Aurobindo Pharma Limited|1150|0",
    "DMART|Avenue Supermarts Limited|4200|0",
    "AXISBANK|Axis Bank Limited|1150|625",
    "BSE|BSE Limited|2600|0",
    "BAJAJ-AUTO|Bajaj Auto Limited|8700|75",
    "BAJFINANCE|Bajaj Finance Limited|950|750",
    "BAJAJFINSV|Bajaj Finserv Limited|2000|0",
    "BAJAJHLDNG|Bajaj Holdings & Investment Limited|12500|0",
    "BANDHANBNK|Bandhan Bank Limited|165|0",
    "BANKBARODA|Bank of Baroda|250|0",
    "BANKINDIA|Bank of India|125|0",
    "BDL|Bharat Dynamics Limited|1600|0",
    "BEL|Bharat Electronics Limited|410|0",
    "BHARATFORG|Bharat Forge Limited|1300|0",
    "BHEL|Bharat Heavy Electricals Limited|240|0",
    "BPCL|Bharat Petroleum Corporation Limited|340|0",
    "BHARTIARTL|Bharti Airtel Limited|1950|475",
    "BIOCON|Biocon Limited|360|0",
    "BLUESTARCO|Blue Star Limited|1850|0",
    "BOSCHLTD|Bosch Limited|38000|25",
    "BRITANNIA|Britannia Industries Limited|5900|0",
    "CGPOWER|CG Power and Industrial Solutions Limited|720|0",
    "CANBK|Canara Bank|115|0",
    "CDSL|Central Depository Services (India) Limited|1600|0",
    "CHOLAFIN|Cholamandalam Investment and Finance Company Limited|1550|0",
    "CIPLA|Cipla Limited|1500|0",
    "COALINDIA|Coal India Limited|390|0",
    "COCHINSHIP|Cochin Shipyard Limited|1800|0",
    "COFORGE|Coforge Limited|1750|0",
    "COLPAL|Colgate Palmolive (India) Limited|2300|0",
    "CAMS|Computer Age Management Services Limited|3900|0",
    "CONCOR|Container Corporation of India Limited|560|0",
    "CROMPTON|Crompton Greaves Consumer Electricals Limited|340|0",
    "CUMMINSIND|Cummins India Limited|3700|0",
    "DLF|DLF Limited|780|0",
    "DABUR|Dabur India Limited|510|0",
    "DALBHARAT|Dalmia Bharat Limited|2200|0",
    "DELHIVERY|Delhivery Limited|440|0",
    "DIVISLAB|Divi's Laboratories Limited|6300|0",
    "DIXON|Dixon Technologies (India) Limited|15500|50",
    "DRREDDY|Dr. Reddy's Laboratories Limited|1250|0",
    "ETERNAL|ETERNAL LIMITED|310|0",
    "EICHERMOT|Eicher Motors Limited|6400|0",
    "EXIDEIND|Exide Industries Limited|390|0",
    "FORCEMOT|FORCE MOTORS LTD|17000|0",
    "NYKAA|FSN E-Commerce Ventures Limited|230|0",
    "FORTIS|Fortis Healthcare Limited|950|0",
    "GAIL|GAIL (India) Limited|180|0",
    "GVT&D|GE Vernova T&D India Limited|2700|0",
    "GMRAIRPORT|GMR AIRPORTS LIMITED|88|0",
    "GLENMARK|Glenmark Pharmaceuticals Limited|1900|0",
    "GODFRYPHLP|Godfrey Phillips India Limited|3200|0",
    "GODREJCP|Godrej Consumer Products Limited|1200|0",
    "GODREJPROP|Godrej Properties Limited|2200|0",
    "GRASIM|Grasim Industries Limited|2800|0",
    "HCLTECH|HCL Technologies Limited|1500|0",
    "HDFCAMC|HDFC Asset Management Company Limited|5500|0",
    "HDFCBANK|HDFC Bank Limited|980|550",
    "HDFCLIFE|HDFC Life Insurance Company Limited|760|0",
    "HAVELLS|Havells India Limited|1500|0",
    "HEROMOTOCO|Hero MotoCorp Limited|5200|0",
    "HINDALCO|Hindalco Industries Limited|760|0",
    "HAL|Hindustan Aeronautics Limited|4700|0",
    "HINDPETRO|Hindustan Petroleum Corporation Limited|440|0",
    "HINDUNILVR|Hindustan Unilever Limited|2500|300",
    "HINDZINC|Hindustan Zinc Limited|480|0",
    "POWERINDIA|Hitachi Energy India Limited|19000|0",
    "HYUNDAI|Hyundai Motor India Limited|2300|0",
    "ICICIBANK|ICICI Bank Limited|1400|700",
    "ICICIGI|ICICI Lombard General Insurance Company Limited|1950|0",
    "ICICIPRULI|ICICI Prudential Life Insurance Company Limited|620|0",
    "IDFCFIRSTB|IDFC First Bank Limited|72|9275",
    "ITC|ITC Limited|410|1600",
    "INDIANB|Indian Bank|640|0",
    "IEX|Indian Energy Exchange Limited|140|0",
    "IOC|Indian Oil Corporation Limited|150|0",
    "IRFC|Indian Railway Finance Corporation Limited|128|0",
    "IREDA|Indian Renewable Energy Development Agency Limited|150|0",
    "INDUSTOWER|Indus Towers Limited|360|0",
    "INDUSINDBK|IndusInd Bank Limited|780|0",
    "NAUKRI|Info Edge (India) Limited|1400|0",
    "INFY|Infosys Limited|1550|400",
    "INOXWIND|Inox Wind Limited|160|0",
    "INDIGO|InterGlobe Aviation Limited|5800|0",
    "JINDALSTEL|JINDAL STEEL LIMITED|1000|0",
    "JSWENERGY|JSW Energy Limited|520|0",
    "JSWSTEEL|JSW Steel Limited|1080|0",
    "JIOFIN|Jio Financial Services Limited|310|0",
    "JUBLFOOD|Jubilant Foodworks Limited|620|0",
    "KEI|KEI Industries Limited|4000|0",
    "KPITTECH|KPIT Technologies Limited|1250|0",
    "KALYANKJIL|Kalyan Jewellers India Limited|520|0",
    "KAYNES|Kaynes Technology India Limited|6200|0",
    "KFINTECH|Kfin Technologies Limited|1100|0",
    "KOTAKBANK|Kotak Mahindra Bank Limited|2100|400",
    "LTF|L&T Finance Limited|230|0",
    "LICHSGFIN|LIC Housing Finance Limited|580|0",
    "LTM|LTM Limited|5400|0",
    "LT|Larsen & Toubro Limited|3700|175",
    "LAURUSLABS|Laurus Labs Limited|900|0",
    "LICI|Life Insurance Corporation Of India|900|0",
    "LODHA|Lodha Developers Limited|1250|0",
    "LUPIN|Lupin Limited|2000|0",
    "M&M|Mahindra & Mahindra Limited|3400|200",
    "MANAPPURAM|Manappuram Finance Limited|280|0",
    "MANKIND|Mankind Pharma Limited|2500|0",
    "MARICO|Marico Limited|720|0",
    "MARUTI|Maruti Suzuki India Limited|15000|50",
    "MFSL|Max Financial Services Limited|1550|0",
    "MAXHEALTH|Max Healthcare Institute Limited|1150|0",
    "MAZDOCK|Mazagon Dock Shipbuilders Limited|2900|0",
    "MOTILALOFS|Motilal Oswal Financial Services Limited|950|0",
    "MPHASIS|MphasiS Limited|2800|0",
    "MCX|Multi Commodity Exchange of India Limited|8500|0",
    "MUTHOOTFIN|Muthoot Finance Limited|3000|0",
    "NBCC|NBCC (India) Limited|115|0",
    "NHPC|NHPC Limited|82|6400",
    "NMDC|NMDC Limited|75|6750",
    "NTPC|NTPC Limited|340|0",
    "NATIONALUM|National Aluminium Company Limited|220|0",
    "NESTLEIND|Nestle India Limited|1200|500",
    "NAM-INDIA|Nippon Life India Asset Management Limited|850|0",
    "NUVAMA|Nuvama Wealth Management Limited|7000|0",
    "OBEROIRLTY|Oberoi Realty Limited|1750|0",
    "ONGC|Oil & Natural Gas Corporation Limited|245|0",
    "OIL|Oil India Limited|440|0",
    "PAYTM|One 97 Communications Limited|1200|0",
    "OFSS|Oracle Financial Services Software Limited|8800|0",
    "POLICYBZR|PB Fintech Limited|1800|0",
    "PGEL|PG Electroplast Limited|650|0",
    "PIIND|PI Industries Limited|3700|0",
    "PNBHOUSING|PNB Housing Finance Limited|950|0",
    "PAGEIND|Page Industries Limited|45000|15",
    "PATANJALI|Patanjali Foods Limited|600|0",
    "PERSISTENT|Persistent Systems Limited|5800|0",
    "PETRONET|Petronet LNG Limited|290|0",
    "PIDILITIND|Pidilite Industries Limited|1500|0",
    "POLYCAB|Polycab India Limited|7200|0",
    "PFC|Power Finance Corporation Limited|410|0",
    "POWERGRID|Power Grid Corporation of India Limited|290|0",
    "PREMIERENE|Premier Energies Limited|1050|0",
    "PRESTIGE|Prestige Estates Projects Limited|1650|0",
    "PNB|Punjab National Bank|110|0",
    "RBLBANK|RBL Bank Limited|300|0",
    "RECLTD|REC Limited|380|0",
    "RADICO|Radico Khaitan Limited|3000|0",
    "RVNL|Rail Vikas Nigam Limited|330|0",
    "RELIANCE|Reliance Industries Limited|1320|500",
    "SBICARD|SBI Cards and Payment Services Limited|880|0",
    "SBILIFE|SBI Life Insurance Company Limited|1850|0",
    "SHREECEM|SHREE CEMENT LIMITED|30000|25",
    "SRF|SRF Limited|3000|0",
    "MOTHERSON|Samvardhana Motherson International Limited|105|0",
    "SHRIRAMFIN|Shriram Finance Limited|650|0",
    "SIEMENS|Siemens Limited|3200|0",
    "SOLARINDS|Solar Industries India Limited|14500|0",
    "SONACOMS|Sona BLW Precision Forgings Limited|480|0",
    "SBIN|State Bank of India|820|750",
    "SAIL|Steel Authority of India Limited|130|0",
    "SUNPHARMA|Sun Pharmaceutical Industries Limited|1650|0",
    "SUPREMEIND|Supreme Industries Limited|4300|0",
    "SUZLON|Suzlon Energy Limited|62|9025",
    "SWIGGY|Swiggy Limited|420|0",
    "TATACONSUM|TATA CONSUMER PRODUCTS LIMITED|1100|0",
    "TVSMOTOR|TVS Motor Company Limited|3300|0",
    "TCS|Tata Consultancy Services Limited|3100|175",
    "TATAELXSI|Tata Elxsi Limited|5600|0",
    "TATAPOWER|Tata Power Company Limited|390|0",
    "TATASTEEL|Tata Steel Limited|165|5500",
    "TECHM|Tech Mahindra Limited|1500|0",
    "FEDERALBNK|The Federal Bank  Limited|210|0",
    "INDHOTEL|The Indian Hotels Company Limited|760|0",
    "PHOENIXLTD|The Phoenix Mills Limited|1600|0",
    "TITAN|Titan Company Limited|3600|0",
    "TORNTPHARM|Torrent Pharmaceuticals Limited|3500|0",
    "TRENT|Trent Limited|5000|0",
    "TIINDIA|Tube Investments of India Limited|3000|0",
    "UNOMINDA|UNO Minda Limited|1250|0",
    "UPL|UPL Limited|680|0",
    "ULTRACEMCO|UltraTech Cement Limited|12000|50",
    "UNIONBANK|Union Bank of India|140|0",
    "UNITDSPR|United Spirits Limited|1350|0",
    "VBL|Varun Beverages Limited|480|0",
    "VEDL|Vedanta Limited|460|0",
    "IDEA|Vodafone Idea Limited|8.5|71475",
    "VOLTAS|Voltas Limited|1350|0",
    "WAAREEENER|Waaree Energies Limited|3100|0",
    "WIPRO|Wipro Limited|250|0",
    "YESBANK|Yes Bank Limited|20|31100",
    "ZYDUSLIFE|Zydus Lifesciences Limited|980|0",
)

# Strike intervals NSE uses for stocks, smallest first.
_NICE_STEPS: tuple[float, ...] = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


def _derive_lot(price: float) -> int:
    raw = 750_000.0 / price
    unit = 25 if raw >= 250 else 5 if raw >= 25 else 1
    return max(1, round(raw / unit) * unit)


def _stock_step(price: float) -> float:
    # About 1.5 % of spot, snapped to an interval NSE actually lists.
    target = price * 0.015
    return min(_NICE_STEPS, key=lambda s: abs(s - target))


def _stock(row: str, serial: int) -> Underlying:
    symbol, name, price_s, lot_s = row.split("|")
    price = float(price_s)
    # Derive a per-name vol and liquidity from the symbol itself, so the table stays short and
    # every run (any seed) agrees on which names are busy.
    h = sum(ord(c) * (i + 1) for i, c in enumerate(symbol))
    vol = round(0.18 + (h % 21) / 100.0, 2)
    liquidity = 400.0 + (h % 97) * 60.0
    lot = int(lot_s) or _derive_lot(price)
    return Underlying(symbol, name, False, price, lot, vol, _stock_step(price), liquidity, serial)


INDICES: tuple[Underlying, ...] = tuple(
    Underlying(sym, name, True, price, lot, vol, step, liq, i + 1)
    for i, (sym, name, price, lot, vol, step, liq) in enumerate(_INDEX_ROWS)
)
STOCKS: tuple[Underlying, ...] = tuple(_stock(row, i + 1) for i, row in enumerate(_STOCK_ROWS))
UNIVERSE: tuple[Underlying, ...] = INDICES + STOCKS
_BY_SYMBOL = {u.symbol: u for u in UNIVERSE}


def by_symbol(symbol: str) -> Underlying | None:
    """The underlying named ``symbol`` (exact NSE spelling, e.g. ``M&M``), or None."""
    return _BY_SYMBOL.get(symbol)
