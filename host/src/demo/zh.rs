//! Chinese (zh-CN) demo data: the records of the English generator ([`super`]) — the same
//! fields, the same [`Rng`], the same numbers, dates and links — with the text a Chinese CRM
//! holds.
//!
//! - Companies are named as they are registered: city, a coined two-character brand, an
//!   industry word and the legal form (北京华科网络科技有限公司, 华科科技股份有限公司); a few
//!   have a Latin brand (ACME（上海）科技有限公司, ACME科技 北京分公司). The domain is the
//!   pinyin of brand and industry (huakewangluokeji.com.cn), the address 省市区路号.
//! - A contact's whole name, family name first, is in `last_name` (王小明) and `first_name`
//!   stays unset: a record's title is `first_name last_name`, and 小明 王 would neither read
//!   right nor be found as 王小明 (this is how the search tests store Chinese names too).
//!   Family names come roughly by their frequency in China (王 李 张 刘 陈 … and a few of two
//!   characters: 欧阳 司马 诸葛 上官); given names have one or two characters. The email is
//!   the name's pinyin at the employer's domain (wang.xiaoming@huakekeji.com.cn), phones are
//!   +86 mobiles (13x, 15x, 18x) or the company's city's landlines.
//! - Activities are written from Chinese templates, some in mixed script (iPhone, CRM, SSO).
//!
//! As in English, a name is a fixed permutation of `index` (not drawn from the [`Rng`]), so
//! company names, domains and emails are unique per `index`. Family names that sound the same
//! (王 and 汪 are both `wang`) number their emails: wang.xiaoming, wang.xiaoming2.

use chrono::{DateTime, Utc};
use pinyin::ToPinyin;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Kind, Rng, annual_revenue, employee_count, fill_pattern, tags};

// ---------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------

/// A city: where a company is registered and its landlines ring.
struct City {
    name: &'static str,
    /// `None` for the municipalities directly under the central government (北京市).
    province: Option<&'static str>,
    /// The landline pattern (`#` a digit), area code included; local numbers start with 2–8.
    phone: &'static str,
    districts: &'static [&'static str],
    weight: u64,
}

const CITIES: &[City] = &[
    City {
        name: "北京",
        province: None,
        phone: "+86 10 6### ####",
        districts: &["朝阳区", "海淀区", "东城区", "西城区", "丰台区"],
        weight: 12,
    },
    City {
        name: "上海",
        province: None,
        phone: "+86 21 5### ####",
        districts: &["浦东新区", "徐汇区", "静安区", "黄浦区", "长宁区"],
        weight: 12,
    },
    City {
        name: "广州",
        province: Some("广东省"),
        phone: "+86 20 8### ####",
        districts: &["天河区", "越秀区", "海珠区", "番禺区"],
        weight: 7,
    },
    City {
        name: "深圳",
        province: Some("广东省"),
        phone: "+86 755 8### ####",
        districts: &["南山区", "福田区", "罗湖区", "宝安区", "龙岗区"],
        weight: 9,
    },
    City {
        name: "杭州",
        province: Some("浙江省"),
        phone: "+86 571 8### ####",
        districts: &["西湖区", "滨江区", "上城区", "余杭区"],
        weight: 6,
    },
    City {
        name: "南京",
        province: Some("江苏省"),
        phone: "+86 25 8### ####",
        districts: &["鼓楼区", "玄武区", "建邺区", "江宁区"],
        weight: 4,
    },
    City {
        name: "苏州",
        province: Some("江苏省"),
        phone: "+86 512 6### ####",
        districts: &["姑苏区", "工业园区", "吴中区", "相城区"],
        weight: 4,
    },
    City {
        name: "成都",
        province: Some("四川省"),
        phone: "+86 28 8### ####",
        districts: &["武侯区", "锦江区", "高新区", "青羊区"],
        weight: 5,
    },
    City {
        name: "武汉",
        province: Some("湖北省"),
        phone: "+86 27 8### ####",
        districts: &["江汉区", "武昌区", "洪山区", "江岸区"],
        weight: 4,
    },
    City {
        name: "西安",
        province: Some("陕西省"),
        phone: "+86 29 8### ####",
        districts: &["雁塔区", "碑林区", "未央区", "高新区"],
        weight: 3,
    },
    City {
        name: "重庆",
        province: None,
        phone: "+86 23 6### ####",
        districts: &["渝中区", "江北区", "南岸区", "渝北区"],
        weight: 4,
    },
    City {
        name: "天津",
        province: None,
        phone: "+86 22 2### ####",
        districts: &["和平区", "河西区", "南开区", "滨海新区"],
        weight: 3,
    },
    City {
        name: "长沙",
        province: Some("湖南省"),
        phone: "+86 731 8### ####",
        districts: &["岳麓区", "芙蓉区", "天心区", "开福区"],
        weight: 2,
    },
    City {
        name: "郑州",
        province: Some("河南省"),
        phone: "+86 371 6### ####",
        districts: &["金水区", "二七区", "中原区", "郑东新区"],
        weight: 2,
    },
    City {
        name: "青岛",
        province: Some("山东省"),
        phone: "+86 532 8### ####",
        districts: &["市南区", "市北区", "崂山区", "黄岛区"],
        weight: 2,
    },
    City {
        name: "厦门",
        province: Some("福建省"),
        phone: "+86 592 5### ####",
        districts: &["思明区", "湖里区", "集美区"],
        weight: 2,
    },
    City {
        name: "合肥",
        province: Some("安徽省"),
        phone: "+86 551 6### ####",
        districts: &["蜀山区", "包河区", "庐阳区"],
        weight: 2,
    },
    City {
        name: "宁波",
        province: Some("浙江省"),
        phone: "+86 574 8### ####",
        districts: &["海曙区", "鄞州区", "江北区"],
        weight: 2,
    },
];

const STREETS: &[&str] = &[
    "建国路",
    "人民路",
    "解放路",
    "中山路",
    "长安街",
    "科技园路",
    "高新大道",
    "滨江大道",
    "文化路",
    "南京路",
    "世纪大道",
    "创业路",
    "学院路",
    "金融街",
    "东风路",
];

/// Office buildings, some in mixed script as they are signposted.
const BUILDINGS: &[&str] = &[
    "SOHO现代城",
    "国贸大厦",
    "环球中心",
    "科技大厦",
    "创业园",
    "软件园",
    "金融中心",
    "IFC国际金融中心",
];

const TOWERS: &[&str] = &["A", "B", "C", "D"];

/// One line, largest unit first: 广东省深圳市南山区科技园路88号 (科技大厦B座1203室).
fn address(rng: &mut Rng, city: &City) -> String {
    let district = *rng.pick(city.districts);
    let street = *rng.pick(STREETS);
    let number = rng.between(1, 999);
    let mut line = format!(
        "{}{}市{district}{street}{number}号",
        city.province.unwrap_or_default(),
        city.name
    );
    if rng.chance(0.5) {
        let building = *rng.pick(BUILDINGS);
        let tower = *rng.pick(TOWERS);
        let floor = rng.between(2, 38);
        let room = rng.between(1, 20);
        line.push_str(&format!("{building}{tower}座{floor}{room:02}室"));
    }
    line
}

// ---------------------------------------------------------------------------
// Companies
// ---------------------------------------------------------------------------

/// First character of a coined brand.
const BRAND_FIRST: &[char] = &[
    '华', '恒', '鼎', '博', '星', '蓝', '云', '海', '凯', '瑞', '达', '泰', '安', '汇', '联', '创',
    '远', '航', '龙', '嘉', '卓', '智', '飞', '广', '宝', '金', '盛', '新', '天', '启', '正', '合',
    '润', '优', '易', '思',
];

/// Second character of a coined brand. Its pinyin starts with a consonant, so a brand's
/// pinyin splits one way only (the domains stay unique); no pair is a famous brand.
const BRAND_SECOND: &[char] = &[
    '科', '丰', '辰', '锦', '诚', '拓', '迈', '驰', '捷', '维', '尚', '翔', '普', '凌', '讯', '岳',
    '森', '睿', '腾', '晖', '朗', '泽', '隆', '鑫', '数', '铭', '策', '曜', '沃', '峻', '澜',
];

/// Latin brands of the (fictional) foreign firms' Chinese subsidiaries.
const LATIN_BRANDS: &[&str] = &[
    "ACME", "Apex", "Orion", "Zenith", "Vertex", "Lumen", "Nexus", "Quanta", "Helix", "Atlas",
    "Polaris", "Titan", "Vector", "Pioneer", "Fusion", "Matrix", "Stellar", "Cosmo", "Sigma",
    "Omega", "Aurora", "Kappa", "IBEX", "ZETA", "Veritas", "Lynx", "Maven", "Optima", "Pulsar",
    "Radiant", "Terra", "Vivid", "Zephyr", "Argo", "Boreal", "Cirrus", "Dynamo", "Gemini", "Halo",
    "Krypton", "Monarch", "Nimbus", "AXON", "Quasar", "Sonata", "Tempo", "Umbra", "Vortex", "Xylo",
    "KORA",
];

/// The industry word of a name, its pinyin (written out: several characters have other
/// readings) and the industry the server knows.
const INDUSTRY_WORDS: &[(&str, &str, &str)] = &[
    ("科技", "keji", "technology"),
    ("网络科技", "wangluokeji", "technology"),
    ("信息技术", "xinxijishu", "technology"),
    ("软件", "ruanjian", "technology"),
    ("智能", "zhineng", "technology"),
    ("数据", "shuju", "technology"),
    ("金融", "jinrong", "finance"),
    ("投资", "touzi", "finance"),
    ("保险经纪", "baoxianjingji", "finance"),
    ("融资租赁", "rongzizulin", "finance"),
    ("医疗", "yiliao", "healthcare"),
    ("医药", "yiyao", "healthcare"),
    ("生物", "shengwu", "healthcare"),
    ("健康", "jiankang", "healthcare"),
    ("制造", "zhizao", "manufacturing"),
    ("机械", "jixie", "manufacturing"),
    ("新材料", "xincailiao", "manufacturing"),
    ("精密", "jingmi", "manufacturing"),
    ("电子", "dianzi", "manufacturing"),
    ("汽车零部件", "qichelingbujian", "manufacturing"),
    ("商贸", "shangmao", "retail"),
    ("食品", "shipin", "retail"),
    ("服饰", "fushi", "retail"),
    ("电子商务", "dianzishangwu", "retail"),
    ("教育", "jiaoyu", "education"),
    ("教育科技", "jiaoyukeji", "education"),
    ("培训", "peixun", "education"),
    ("能源", "nengyuan", "energy"),
    ("新能源", "xinnengyuan", "energy"),
    ("电力", "dianli", "energy"),
    ("传媒", "chuanmei", "media"),
    ("文化传播", "wenhuachuanbo", "media"),
    ("影视", "yingshi", "media"),
    ("物流", "wuliu", "logistics"),
    ("供应链", "gongyinglian", "logistics"),
    ("国际货运", "guojihuoyun", "logistics"),
    ("置业", "zhiye", "real_estate"),
    ("房地产开发", "fangdichankaifa", "real_estate"),
    ("物业", "wuye", "real_estate"),
    ("酒店管理", "jiudianguanli", "hospitality"),
    ("旅游", "lvyou", "hospitality"),
    ("餐饮管理", "canyinguanli", "hospitality"),
    ("咨询", "zixun", "consulting"),
    ("管理咨询", "guanlizixun", "consulting"),
    ("企业管理", "qiyeguanli", "consulting"),
    ("实业", "shiye", "other"),
    ("贸易", "maoyi", "other"),
    ("控股", "konggu", "other"),
];

/// The legal form after the industry word, weighted.
const LEGAL_FORMS: &[(&str, u64)] = &[
    ("有限公司", 62),
    ("股份有限公司", 24),
    ("集团有限公司", 9),
    ("集团", 5),
];

/// Branches that keep names unique once every brand × industry pair is used: the first pass
/// has none, the next ones are 上海分公司, 深圳分公司, …
const BRANCH_CITIES: &[(&str, &str)] = &[
    ("上海", "shanghai"),
    ("深圳", "shenzhen"),
    ("广州", "guangzhou"),
    ("杭州", "hangzhou"),
    ("成都", "chengdu"),
    ("武汉", "wuhan"),
    ("南京", "nanjing"),
    ("西安", "xian"),
];

const TOP_LEVEL_DOMAINS: &[(&str, u64)] = &[("com", 40), ("cn", 30), ("com.cn", 25), ("net", 5)];

/// Multiplier of the index permutation: a prime that divides no list length.
const NAME_STRIDE: u64 = 104_729;
const NAME_OFFSET: u64 = 7_331;

/// The brand of a company: coined from two characters, or Latin.
enum Brand {
    Han(String),
    Latin(&'static str),
}

/// The index-determined part of a company.
struct CompanyIdentity {
    brand: Brand,
    word: &'static str,
    industry: &'static str,
    /// The DNS label: pinyin of brand and industry word (and branch).
    label: String,
    /// `上海分公司` past the first pass.
    branch: Option<String>,
}

fn brand_count() -> u64 {
    (BRAND_FIRST.len() * BRAND_SECOND.len() + LATIN_BRANDS.len()) as u64
}

/// Maps `index` injectively onto companies: a permutation of the brand × industry space, then
/// a branch city, then (past every branch city) a branch number.
fn company_identity(index: usize) -> CompanyIdentity {
    let brands = brand_count();
    let space = brands * INDUSTRY_WORDS.len() as u64;
    let index = index as u64;
    let slot = ((index % space) * NAME_STRIDE + NAME_OFFSET) % space;
    let pass = index / space;
    let b = (slot % brands) as usize;
    let (word, word_pinyin, industry) = INDUSTRY_WORDS[(slot / brands) as usize];
    let han = BRAND_FIRST.len() * BRAND_SECOND.len();
    let (brand, brand_label) = if b < han {
        let first = BRAND_FIRST[b % BRAND_FIRST.len()];
        let second = BRAND_SECOND[b / BRAND_FIRST.len()];
        let name: String = [first, second].into_iter().collect();
        let label = pinyin_of(&name);
        (Brand::Han(name), label)
    } else {
        let latin = LATIN_BRANDS[b - han];
        (Brand::Latin(latin), latin.to_ascii_lowercase())
    };
    let mut label = format!("{brand_label}{word_pinyin}");
    let branch = (pass > 0).then(|| {
        let cities = BRANCH_CITIES.len() as u64;
        let (city, city_pinyin) = BRANCH_CITIES[((pass - 1) % cities) as usize];
        let round = (pass - 1) / cities;
        label = format!("{label}-{city_pinyin}");
        if round > 0 {
            label = format!("{label}{}", round + 1);
            format!("{city}第{}分公司", round + 1)
        } else {
            format!("{city}分公司")
        }
    });
    CompanyIdentity {
        brand,
        word,
        industry,
        label,
        branch,
    }
}

/// A company with the English generator's fields: name, domain, industry, employees,
/// annual_revenue (CNY), phone, website, address. Name and domain are unique per `index`.
pub fn company(rng: &mut Rng, index: usize) -> Map<String, Value> {
    let identity = company_identity(index);
    let city = rng.pick_weighted(CITIES, |c| c.weight);
    let branch = identity.branch.clone().unwrap_or_default();
    let word = identity.word;
    let name = match &identity.brand {
        Brand::Han(brand) => {
            let prefix = if rng.chance(0.85) { city.name } else { "" };
            let &(form, _) = rng.pick_weighted(LEGAL_FORMS, |f| f.1);
            format!("{prefix}{brand}{word}{form}{branch}")
        }
        Brand::Latin(brand) => {
            if rng.chance(0.6) || identity.branch.is_some() {
                format!("{brand}（{}）{word}有限公司{branch}", city.name)
            } else {
                format!("{brand}{word} {}分公司", city.name)
            }
        }
    };
    let &(tld, _) = rng.pick_weighted(TOP_LEVEL_DOMAINS, |t| t.1);
    let domain = format!("{}.{tld}", identity.label);
    let employees = employee_count(rng);
    // Revenue per head as in English, in yuan (about seven to the dollar).
    let revenue = annual_revenue(rng, employees * 7, "CNY");

    let mut record = Map::new();
    record.insert("name".into(), name.into());
    record.insert("domain".into(), domain.clone().into());
    record.insert("industry".into(), identity.industry.into());
    record.insert("employees".into(), employees.into());
    record.insert("annual_revenue".into(), revenue);
    record.insert("phone".into(), fill_pattern(rng, city.phone).into());
    record.insert("website".into(), format!("https://www.{domain}").into());
    record.insert("address".into(), address(rng, city).into());
    record
}

/// The brand of a company name this generator made: its coined two characters (深圳华科网络
/// 科技有限公司 → 华科) or its Latin brand (ACME（北京）科技有限公司 → ACME), or `None`.
pub fn company_brand(name: &str) -> Option<&str> {
    let latin = name
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(name.len(), |(at, _)| at);
    if latin > 0 {
        return Some(&name[..latin]);
    }
    let rest = CITIES
        .iter()
        .find_map(|city| name.strip_prefix(city.name))
        .unwrap_or(name);
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    let (at, second) = chars.next()?;
    (BRAND_FIRST.contains(&first) && BRAND_SECOND.contains(&second))
        .then(|| &rest[..at + second.len_utf8()])
}

/// The first city named in a company name this generator made (ACME科技 北京分公司 → 北京).
pub fn company_city(name: &str) -> Option<&'static str> {
    CITIES
        .iter()
        .filter_map(|city| name.find(city.name).map(|at| (at, city.name)))
        .min()
        .map(|(_, city)| city)
}

/// The pinyin of Han text, syllables joined, without tones (`华科` → `huake`); other
/// characters are left out.
fn pinyin_of(text: &str) -> String {
    text.chars()
        .filter_map(|c| c.to_pinyin())
        .map(|p| p.plain())
        .collect()
}

// ---------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------

/// A family name, its pinyin (syllables apart: `ou yang`; written out, as some characters
/// read otherwise elsewhere: 曾 is `zeng` as a name, `ceng` in words) and about how many in
/// 10,000 people in China bear it. Names that sound alike (王 汪, 徐 许) are both kept.
#[rustfmt::skip]
const FAMILY_NAMES: &[(&str, &str, u64)] = &[
    ("王", "wang", 712), ("李", "li", 705), ("张", "zhang", 655), ("刘", "liu", 538),
    ("陈", "chen", 453), ("杨", "yang", 308), ("黄", "huang", 198), ("赵", "zhao", 192),
    ("吴", "wu", 183), ("周", "zhou", 180), ("徐", "xu", 145), ("孙", "sun", 138),
    ("马", "ma", 129), ("朱", "zhu", 126), ("胡", "hu", 116), ("郭", "guo", 115),
    ("何", "he", 105), ("林", "lin", 102), ("高", "gao", 100), ("罗", "luo", 95),
    ("郑", "zheng", 88), ("梁", "liang", 86), ("谢", "xie", 82), ("宋", "song", 77),
    ("唐", "tang", 76), ("许", "xu", 72), ("韩", "han", 70), ("邓", "deng", 65),
    ("冯", "feng", 65), ("曹", "cao", 63), ("彭", "peng", 61), ("曾", "zeng", 59),
    ("肖", "xiao", 58), ("田", "tian", 53), ("董", "dong", 52), ("潘", "pan", 50),
    ("袁", "yuan", 49), ("蔡", "cai", 47), ("蒋", "jiang", 47), ("余", "yu", 45),
    ("于", "yu", 44), ("杜", "du", 42), ("叶", "ye", 42), ("程", "cheng", 41),
    ("魏", "wei", 40), ("苏", "su", 40), ("吕", "lv", 39), ("丁", "ding", 38),
    ("任", "ren", 37), ("卢", "lu", 36), ("姚", "yao", 35), ("沈", "shen", 35),
    ("钟", "zhong", 34), ("姜", "jiang", 34), ("崔", "cui", 33), ("谭", "tan", 32),
    ("陆", "lu", 31), ("范", "fan", 31), ("汪", "wang", 30), ("廖", "liao", 30),
    ("石", "shi", 29), ("金", "jin", 29), ("韦", "wei", 28), ("贾", "jia", 27),
    ("夏", "xia", 26), ("付", "fu", 26), ("方", "fang", 25), ("邹", "zou", 24),
    ("熊", "xiong", 23), ("白", "bai", 23), ("孟", "meng", 23), ("秦", "qin", 22),
    ("邱", "qiu", 22), ("侯", "hou", 22), ("江", "jiang", 21), ("尹", "yin", 21),
    ("薛", "xue", 20), ("闫", "yan", 20), ("段", "duan", 20), ("雷", "lei", 20),
    ("龙", "long", 19), ("黎", "li", 19), ("史", "shi", 19), ("陶", "tao", 18),
    ("贺", "he", 18), ("毛", "mao", 17), ("郝", "hao", 17), ("顾", "gu", 17),
    ("龚", "gong", 16), ("邵", "shao", 16), ("万", "wan", 15), ("覃", "qin", 15),
    ("武", "wu", 15), ("钱", "qian", 15), ("戴", "dai", 15), ("严", "yan", 15),
    ("莫", "mo", 14), ("孔", "kong", 14), ("向", "xiang", 13), ("常", "chang", 13),
    // Two-character family names, a little more often than in life so that a demo has some.
    ("欧阳", "ou yang", 8), ("上官", "shang guan", 3), ("司马", "si ma", 3), ("诸葛", "zhu ge", 3),
];

/// Given names per 10,000 bearers of a family name in the name space.
const NAMES_PER_WEIGHT: u64 = 3;

/// First characters of two-character given names: more often a man's, a woman's, or either.
const GIVEN_FIRST_MEN: &[char] = &[
    '志', '建', '国', '海', '俊', '德', '天', '宏', '永', '振', '浩', '博', '伟', '鹏', '成', '光',
    '庆', '冬', '正', '家',
];
const GIVEN_FIRST_WOMEN: &[char] = &[
    '秀', '美', '梦', '雪', '慧', '静', '诗', '凤', '桂', '淑', '丹', '玲', '婷', '彩', '素', '亚',
    '云', '爱', '丽',
];
const GIVEN_FIRST_EITHER: &[char] = &[
    '小', '子', '思', '雨', '晨', '新', '文', '春', '明', '若', '一',
];

/// Second characters, and one-character given names. Each list's pinyin is distinct and
/// starts with a consonant, so a given name's pinyin is one name's only.
const GIVEN_SECOND_MEN: &[char] = &[
    '明', '伟', '强', '磊', '军', '洋', '勇', '杰', '涛', '超', '刚', '辉', '鑫', '龙', '峰', '波',
    '斌', '凯', '浩', '鹏', '帆', '亮', '健', '东', '轩', '睿', '哲', '坤', '松', '帅', '生', '祥',
    '森', '勋', '卓',
];
const GIVEN_SECOND_WOMEN: &[char] = &[
    '芳', '娜', '敏', '静', '丽', '霞', '平', '华', '玉', '兰', '婷', '琳', '雪', '红', '颖', '倩',
    '然', '燕', '琪', '月', '宁', '瑶', '菲', '佳', '楠', '丹', '梅', '怡', '涵', '桐', '珊', '蓉',
    '舒', '淼', '璐', '琴', '芸', '雯', '蓓', '娇', '琼',
];

/// Multipliers of the name permutations: primes that divide no list length or space.
const CONTACT_STRIDE: u64 = 7_919;
const CONTACT_OFFSET: u64 = 1_213;
const GIVEN_STRIDE: u64 = 911;

/// How many two-character given names there are.
fn given_pairs() -> u64 {
    ((GIVEN_FIRST_MEN.len() + GIVEN_FIRST_EITHER.len()) * GIVEN_SECOND_MEN.len()
        + (GIVEN_FIRST_WOMEN.len() + GIVEN_FIRST_EITHER.len()) * GIVEN_SECOND_WOMEN.len())
        as u64
}

/// The two-character given name number `pair` (`0..given_pairs()`).
fn given_pair(pair: u64) -> [char; 2] {
    let pair = pair as usize;
    let men = (GIVEN_FIRST_MEN.len() + GIVEN_FIRST_EITHER.len()) * GIVEN_SECOND_MEN.len();
    let (firsts, seconds, at): (Vec<char>, &[char], usize) = if pair < men {
        let firsts = [GIVEN_FIRST_MEN, GIVEN_FIRST_EITHER].concat();
        (firsts, GIVEN_SECOND_MEN, pair)
    } else {
        let firsts = [GIVEN_FIRST_WOMEN, GIVEN_FIRST_EITHER].concat();
        (firsts, GIVEN_SECOND_WOMEN, pair - men)
    };
    [firsts[at % firsts.len()], seconds[at / firsts.len()]]
}

/// The one-character given names.
fn given_single(n: usize) -> char {
    let all = GIVEN_SECOND_MEN.len() + GIVEN_SECOND_WOMEN.len();
    let n = n % all;
    if n < GIVEN_SECOND_MEN.len() {
        GIVEN_SECOND_MEN[n]
    } else {
        GIVEN_SECOND_WOMEN[n - GIVEN_SECOND_MEN.len()]
    }
}

/// The size of the name space: every family name's share of given names.
fn name_space() -> u64 {
    FAMILY_NAMES.iter().map(|f| f.2 * NAMES_PER_WEIGHT).sum()
}

/// The contact's family name (an index into [`FAMILY_NAMES`]) and given name: a fixed
/// permutation of the name space, each family name's block holding distinct given names,
/// one in six of one character (while they last).
fn contact_name(index: usize) -> (usize, String) {
    let space = name_space();
    let slot = ((index as u64 % space) * CONTACT_STRIDE + CONTACT_OFFSET) % space;
    let mut start = 0;
    let mut family = 0;
    for (i, &(_, _, weight)) in FAMILY_NAMES.iter().enumerate() {
        let size = weight * NAMES_PER_WEIGHT;
        if slot < start + size {
            family = i;
            break;
        }
        start += size;
    }
    let j = slot - start;
    let singles = (GIVEN_SECOND_MEN.len() + GIVEN_SECOND_WOMEN.len()) as u64;
    // Each family name starts elsewhere in the lists, so 王 and 李 do not share given names.
    let shift = family as u64 * 37;
    let given = if j.is_multiple_of(6) && j / 6 < singles {
        given_single((j / 6 + shift) as usize).to_string()
    } else {
        let singles_before = j.div_ceil(6).min(singles);
        let pair = ((j - singles_before) * GIVEN_STRIDE + shift) % given_pairs();
        given_pair(pair).into_iter().collect()
    };
    (family, given)
}

/// `wang.xiaoming`: the family name's pinyin, a dot, the given name's; numbered for a family
/// name that sounds like an earlier one (汪 → `wang.xiaoming2`); plus `.index` once the name
/// space has been used up.
fn email_local_part(index: usize, family: usize, given: &str) -> String {
    let (_, sound, _) = FAMILY_NAMES[family];
    let alike = FAMILY_NAMES[..family]
        .iter()
        .filter(|(_, other, _)| *other == sound)
        .count();
    let mut local = format!("{}.{}", sound.replace(' ', ""), pinyin_of(given));
    if alike > 0 {
        local.push_str(&(alike + 1).to_string());
    }
    if index as u64 >= name_space() {
        local.push_str(&format!(".{index}"));
    }
    local
}

/// The family name and the given name of a name this generator made (王小明 → 王, 小明;
/// 欧阳娜娜 → 欧阳, 娜娜), or `None`.
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    FAMILY_NAMES
        .iter()
        .filter(|(family, _, _)| name.starts_with(family) && name.len() > family.len())
        .max_by_key(|(family, _, _)| family.len())
        .map(|(family, _, _)| name.split_at(family.len()))
}

/// The pinyin syllables of a name this generator made, as people type it: the family name as
/// a name is read (曾 `zeng`, 吕 `lv`), the given name as the `pinyin` crate reads it
/// (王小明 → `wang`, `xiao`, `ming`), or `None`.
pub fn name_pinyin(name: &str) -> Option<Vec<String>> {
    let (family, given) = split_name(name)?;
    let (_, sound, _) = FAMILY_NAMES.iter().find(|(f, _, _)| *f == family)?;
    let mut syllables: Vec<String> = sound.split(' ').map(str::to_owned).collect();
    for c in given.chars() {
        syllables.push(c.to_pinyin()?.plain().to_owned());
    }
    Some(syllables)
}

const FREE_MAIL_DOMAINS: &[&str] = &[
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "aliyun.com",
];

/// Titles used as they are.
const TITLES: &[&str] = &[
    "总经理",
    "副总经理",
    "董事长",
    "首席执行官",
    "首席技术官",
    "首席财务官",
    "创始人",
    "联合创始人",
    "总裁助理",
    "大客户经理",
    "客户经理",
    "项目经理",
    "产品经理",
    "软件工程师",
    "高级工程师",
    "数据分析师",
    "解决方案架构师",
    "行政助理",
    "采购专员",
    "会计",
];

/// Title patterns combined with [`DEPARTMENTS`] (销售经理, 采购主管).
const TITLE_PATTERNS: &[&str] = &[
    "{}总监",
    "{}经理",
    "{}主管",
    "{}专员",
    "高级{}经理",
    "{}副总裁",
    "{}负责人",
];

const DEPARTMENTS: &[&str] = &[
    "销售",
    "市场",
    "采购",
    "财务",
    "人力资源",
    "技术",
    "运营",
    "产品",
    "客户成功",
    "法务",
    "行政",
    "供应链",
    "渠道",
];

const FREELANCE_TITLES: &[&str] = &[
    "独立顾问",
    "自由设计师",
    "自由开发者",
    "兼职财务顾问",
    "咨询顾问",
    "律师",
    "摄影师",
    "翻译",
];

/// Mobile prefixes: 13x, 15x (no 154) and 18x.
#[rustfmt::skip]
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
];

/// A contact working at `company` (its id and domain), or a freelancer when None, with the
/// English generator's fields except `first_name` (the whole name is in `last_name`). The
/// email is unique per `index`.
pub fn contact(rng: &mut Rng, index: usize, company: Option<(Uuid, &str)>) -> Map<String, Value> {
    let (family, given) = contact_name(index);
    let domain = match company {
        Some((_, domain)) => domain.to_ascii_lowercase(),
        None => (*rng.pick(FREE_MAIL_DOMAINS)).to_owned(),
    };
    let email = format!("{}@{domain}", email_local_part(index, family, &given));
    let title = if company.is_some() {
        employee_title(rng)
    } else {
        (*rng.pick(FREELANCE_TITLES)).to_owned()
    };

    let mut record = Map::new();
    record.insert(
        "last_name".into(),
        format!("{}{given}", FAMILY_NAMES[family].0).into(),
    );
    record.insert("email".into(), email.into());
    record.insert("phone".into(), contact_phone(rng).into());
    record.insert("title".into(), title.into());
    if let Some((id, _)) = company {
        record.insert("company".into(), id.to_string().into());
    }
    let tags = tags(rng);
    if !tags.is_empty() {
        record.insert("tags".into(), tags.into());
    }
    record
}

fn employee_title(rng: &mut Rng) -> String {
    if rng.chance(0.4) {
        (*rng.pick(TITLES)).to_owned()
    } else {
        let pattern = *rng.pick(TITLE_PATTERNS);
        let department = *rng.pick(DEPARTMENTS);
        pattern.replace("{}", department)
    }
}

/// Mostly a mobile (+86 138 1234 5678), otherwise a landline in one of the cities.
fn contact_phone(rng: &mut Rng) -> String {
    if rng.chance(0.75) {
        let prefix = *rng.pick(MOBILE_PREFIXES);
        fill_pattern(rng, &format!("+86 {prefix} #### ####"))
    } else {
        let city = rng.pick_weighted(CITIES, |c| c.weight);
        fill_pattern(rng, city.phone)
    }
}

// ---------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------

fn subjects(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Note => &[
            "{quarter}业务回顾纪要",
            "客户背景",
            "对接人岗位变动",
            "预算更新",
            "组织架构备注",
            "关于{topic}的反馈",
            "{topic}内部备注",
        ],
        Kind::Task => &[
            "发送{doc}",
            "跟进{topic}",
            "为{team}准备{doc}",
            "约{team}做产品演示",
            "更新预计成交日期",
            "预约{quarter}业务回顾",
            "催客户签署订单",
        ],
        Kind::Call => &[
            "{topic}电话沟通",
            "需求调研电话",
            "例行回访",
            "与{team}电话会议",
            "关于{topic}的简短通话",
            "价格沟通电话",
        ],
        Kind::Meeting => &[
            "给{team}做产品演示",
            "{quarter}业务回顾会",
            "项目启动会",
            "{topic}专题研讨",
            "合同谈判",
            "上门拜访",
        ],
        Kind::Email => &[
            "回复：{doc}",
            "电话沟通后的跟进",
            "{topic}的下一步安排",
            "感谢今天抽出时间",
            "关于{topic}的疑问",
            "引荐{role}",
        ],
    }
}

/// The sentence a body starts with.
fn openers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Note => &[
            "客户整体情况良好。",
            "在展会上认识了{role}，对方很感兴趣。",
            "最近{weeks}周使用量明显下降。",
            "我方对接人将在{quarter}调岗。",
            "背景：去年他们评估过我们，最后选了{competitor}。",
        ],
        Kind::Task => &[
            "需要在{weekday}之前发送{doc}。",
            "与{team}跟进{topic}。",
            "下次通话前准备好{topic}的数据。",
            "确保{role}拿到审批所需的全部材料。",
        ],
        Kind::Call => &[
            "与{role}沟通了{topic}。",
            "和{team}简短通话，讨论{topic}。",
            "与{role}做了需求调研，对方在为{quarter}评估方案。",
            "第一次打过去留了语音，第二次联系上了{role}。",
        ],
        Kind::Meeting => &[
            "与{team}讨论了{topic}。",
            "给{team}的{seats}位潜在用户做了演示。",
            "与{role}及{team}的两位同事一起过了{topic}。",
            "启动会很顺利，{team}已准备好开始。",
        ],
        Kind::Email => &[
            "已把{doc}发给{role}。",
            "回复了{team}关于{topic}的问题。",
            "按要求转发了{doc}。",
            "把{topic}的总结发给了{team}。",
        ],
    }
}

/// Middle sentences of a body, shared by every kind.
const DETAILS: &[&str] = &[
    "客户对续约价格有疑问，需要{role}跟进。",
    "对方希望{plan}能给{percent}的折扣。",
    "{quarter}的预算已经批下来了。",
    "法务需要审核数据处理条款。",
    "他们同时也在接触{competitor}。",
    "主要顾虑是数据迁移的工作量。",
    "预计{quarter}末做出决定。",
    "{team}要求先开通SSO才能继续推广。",
    "他们打算先采购{seats}个席位。",
    "报价反馈不错。",
    "由于内部架构调整，时间表推迟了两周。",
    "{role}是最终拍板的人。",
    "合同{weeks}周后到期，需要续约。",
    "反馈CSV导入有问题。",
    "整体沟通氛围积极。",
    "{role}希望和同行业客户做一次参考交流。",
    "客户希望在{device}上也能用。",
    "目前用{tool}管理客户，想迁移到我们的CRM。",
    "需要和他们的{system}系统做API对接。",
    "要求开具增值税专用发票。",
    "希望支持私有化部署。",
];

/// Closing sentences of a body.
const NEXT_STEPS: &[&str] = &[
    "下一步：{weekday}前发送{doc}。",
    "{weekday}再跟进。",
    "约定{weeks}周后再沟通。",
    "待办：拉上{team}一起推进。",
    "等待{role}的反馈。",
];

const TOPICS: &[&str] = &[
    "续约",
    "三季度上线",
    "明年的价格",
    "上线培训",
    "试点结果",
    "合同条款",
    "安全评估",
    "API对接",
    "增购席位",
    "未结发票",
    "SSO配置",
    "数据迁移",
    "实施计划",
    "年度方案",
    "私有化部署",
    "CRM选型",
];

const TEAMS: &[&str] = &[
    "采购部",
    "财务部",
    "IT部",
    "法务部",
    "市场部",
    "运营部",
    "安全团队",
    "销售部",
    "研发部",
    "管理层",
];

const DOCS: &[&str] = &[
    "报价单",
    "修订版报价",
    "客户案例",
    "安全问卷",
    "订单",
    "实施方案",
    "ROI分析",
    "产品路线图",
    "客户参考名单",
    "合同修订稿",
];

const ROLES: &[&str] = &[
    "对方财务总监",
    "IT负责人",
    "我方对接人",
    "采购负责人",
    "新任销售副总裁",
    "对方法务",
    "项目发起人",
    "销售经理",
];

const COMPETITORS: &[&str] = &["一家竞争对手", "现有供应商", "自研系统"];
const PLANS: &[&str] = &["年度套餐", "企业版", "基础版", "多年合同"];
const QUARTERS: &[&str] = &["一季度", "二季度", "三季度", "四季度"];
const WEEKDAYS: &[&str] = &["周一", "周二", "周三", "周四", "周五"];
const DEVICES: &[&str] = &["iPhone", "安卓手机", "iPad", "微信小程序"];
const TOOLS: &[&str] = &["Excel", "纸质表格", "自建系统", "钉钉"];
const SYSTEMS: &[&str] = &["ERP", "OA", "SAP", "财务"];

/// An activity linked to the given record ids, as [`super::activity`] makes it (kind, subject,
/// body, due_at, done, links), in Chinese.
pub fn activity(rng: &mut Rng, links: &[Uuid], now: DateTime<Utc>) -> Map<String, Value> {
    let &(kind, _) = rng.pick_weighted(super::KINDS, |entry| entry.1);
    let subject_template = *rng.pick(subjects(kind));
    let subject = super::expand(rng, subject_template, placeholder);
    let body = body(rng, kind);
    super::activity_record(rng, kind, subject, body, links, now)
}

/// One to four sentences: an opener for the kind, then details, sometimes ending with a next
/// step.
fn body(rng: &mut Rng, kind: Kind) -> String {
    let opener = *rng.pick(openers(kind));
    let mut text = super::expand(rng, opener, placeholder);
    let extra = rng.below(4) as usize;
    let closing = extra > 0 && rng.chance(0.5);
    for i in rng.distinct_indices(DETAILS.len(), extra - usize::from(closing)) {
        text.push_str(&super::expand(rng, DETAILS[i], placeholder));
    }
    if closing {
        let step = *rng.pick(NEXT_STEPS);
        text.push_str(&super::expand(rng, step, placeholder));
    }
    text
}

fn placeholder(rng: &mut Rng, key: &str) -> String {
    let words = match key {
        "topic" => TOPICS,
        "team" => TEAMS,
        "doc" => DOCS,
        "role" => ROLES,
        "competitor" => COMPETITORS,
        "plan" => PLANS,
        "quarter" => QUARTERS,
        "weekday" => WEEKDAYS,
        "device" => DEVICES,
        "tool" => TOOLS,
        "system" => SYSTEMS,
        "percent" => return format!("{}%", 5 * rng.between(1, 4)),
        "seats" => return (5 * rng.between(2, 100)).to_string(),
        "weeks" => return rng.between(2, 8).to_string(),
        _ => return format!("{{{key}}}"),
    };
    (*rng.pick(words)).to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-14T10:07:31.250Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn text<'a>(record: &'a Map<String, Value>, key: &str) -> &'a str {
        record[key].as_str().unwrap()
    }

    fn is_han(c: char) -> bool {
        ('\u{4E00}'..='\u{9FFF}').contains(&c)
    }

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    /// A company, a contact and an activity.
    type Records = (Map<String, Value>, Map<String, Value>, Map<String, Value>);

    fn generate(seed: u64) -> Vec<Records> {
        let mut rng = Rng::new(seed);
        let id = Uuid::from_u128(42);
        (0..300)
            .map(|i| {
                let company = company(&mut rng, i);
                let contact = contact(&mut rng, i, Some((id, "huakekeji.cn")));
                let activity = activity(&mut rng, &[id], now());
                (company, contact, activity)
            })
            .collect()
    }

    #[test]
    fn same_seed_gives_same_records_and_other_seeds_differ() {
        assert_eq!(generate(99), generate(99));
        assert_ne!(generate(99), generate(100));
    }

    #[test]
    fn records_have_the_english_generators_fields() {
        let mut en = Rng::new(1);
        let mut zh = Rng::new(1);
        let id = Uuid::from_u128(7);
        // Tags are drawn (a contact may have none): compare the other fields.
        let keys = |m: &Map<String, Value>| {
            (m.keys().filter(|k| *k != "tags").cloned()).collect::<HashSet<_>>()
        };
        for i in 0..200 {
            assert_eq!(
                keys(&super::super::company(&mut en, i)),
                keys(&company(&mut zh, i))
            );
            let mut english = keys(&super::super::contact(&mut en, i, Some((id, "x.com"))));
            english.remove("first_name");
            assert_eq!(english, keys(&contact(&mut zh, i, Some((id, "x.com")))));
        }
    }

    #[test]
    fn names_are_chinese_and_family_names_follow_their_frequency() {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut lengths: HashMap<usize, usize> = HashMap::new();
        for index in 0..20_000 {
            let (family, given) = contact_name(index);
            let name = format!("{}{given}", FAMILY_NAMES[family].0);
            assert!(name.chars().all(is_han), "{name}");
            assert_eq!(
                split_name(&name),
                Some((FAMILY_NAMES[family].0, given.as_str()))
            );
            *counts.entry(FAMILY_NAMES[family].0).or_default() += 1;
            *lengths.entry(given.chars().count()).or_default() += 1;
        }
        // 王 is about 7% of names, 李 and 张 follow, 常 is rare.
        assert!((1_100..1_800).contains(&counts["王"]), "{counts:?}");
        assert!(counts["王"] > counts["刘"] && counts["刘"] > counts["杨"]);
        assert!(counts["常"] < 80, "{counts:?}");
        for compound in ["欧阳", "上官", "司马", "诸葛"] {
            assert!(counts.get(compound).is_some_and(|&n| n > 0), "{compound}");
        }
        assert_eq!(
            lengths.keys().copied().collect::<HashSet<_>>(),
            HashSet::from([1, 2])
        );
        assert!(lengths[&1] * 20 > lengths[&2], "{lengths:?}");
        assert_eq!(split_name("欧阳娜娜"), Some(("欧阳", "娜娜")));
        assert_eq!(split_name("Ada"), None);
        assert_eq!(
            name_pinyin("曾小明").unwrap(),
            ["zeng", "xiao", "ming"].map(String::from)
        );
        assert_eq!(
            name_pinyin("欧阳娜娜").unwrap(),
            ["ou", "yang", "na", "na"].map(String::from)
        );
    }

    #[test]
    fn the_name_space_holds_every_family_name_and_emails_are_unique() {
        let space = name_space();
        assert_eq!(gcd(CONTACT_STRIDE, space), 1);
        assert_eq!(gcd(GIVEN_STRIDE, given_pairs()), 1);
        let largest = FAMILY_NAMES.iter().map(|f| f.2).max().unwrap() * NAMES_PER_WEIGHT;
        assert!(largest <= given_pairs(), "{largest} > {}", given_pairs());
        for list in [
            GIVEN_FIRST_MEN,
            GIVEN_FIRST_WOMEN,
            GIVEN_FIRST_EITHER,
            GIVEN_SECOND_MEN,
            GIVEN_SECOND_WOMEN,
            BRAND_FIRST,
            BRAND_SECOND,
        ] {
            for c in list {
                let sound = pinyin_of(&c.to_string());
                assert!(
                    !sound.is_empty() && sound.bytes().all(|b| b.is_ascii_lowercase()),
                    "{c}: {sound}"
                );
            }
        }
        let mut locals = HashSet::new();
        let mut names = HashSet::new();
        for index in 0..space as usize + 2_000 {
            let (family, given) = contact_name(index);
            let local = email_local_part(index, family, &given);
            assert!(
                local
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.'),
                "{local}"
            );
            assert!(locals.insert(local.clone()), "duplicate email {local}");
            if (index as u64) < space {
                assert!(names.insert((family, given)), "index {index}");
            }
        }
        assert!(locals.contains("wang.xiaoming") || locals.contains("wang.xiaoming2"));
    }

    #[test]
    fn contacts_are_well_formed() {
        let mut rng = Rng::new(11);
        let id = Uuid::from_u128(3);
        let mut titled = (0, 0);
        for index in 0..5_000 {
            let employer = (index % 5 != 0).then_some((id, "huakekeji.com.cn"));
            let record = contact(&mut rng, index, employer);
            assert!(!record.contains_key("first_name"));
            let name = text(&record, "last_name");
            let email = text(&record, "email");
            let (local, domain) = email.split_once('@').unwrap();
            let sound: String = name_pinyin(name).unwrap().concat();
            assert!(local.replace('.', "").starts_with(&sound), "{name} {email}");
            match employer {
                Some(_) => assert_eq!(domain, "huakekeji.com.cn"),
                None => assert!(FREE_MAIL_DOMAINS.contains(&domain)),
            }
            let phone = text(&record, "phone");
            assert!(phone.starts_with("+86 "), "{phone}");
            assert!(
                phone.bytes().filter(u8::is_ascii_digit).count() >= 12,
                "{phone}"
            );
            // A mobile's first group has three digits from 1; no area code does.
            let group = phone.split(' ').nth(1).unwrap();
            if group.len() == 3 && group.starts_with('1') {
                assert!(MOBILE_PREFIXES.contains(&group), "{phone}");
            } else {
                let local = phone.split(' ').nth(2).unwrap();
                assert!(
                    ('2'..='8').contains(&local.chars().next().unwrap()),
                    "{phone}"
                );
            }
            let title = text(&record, "title");
            assert!(title.chars().any(is_han), "{title}");
            titled.0 += usize::from(title.contains('总'));
            titled.1 += usize::from(title.contains("经理"));
        }
        assert!(titled.0 > 250 && titled.1 > 250, "{titled:?}");
    }

    #[test]
    fn companies_are_unique_and_look_registered() {
        let brands = brand_count();
        let space = brands * INDUSTRY_WORDS.len() as u64;
        assert_eq!(gcd(NAME_STRIDE, space), 1);
        let mut labels = HashSet::new();
        for index in 0..space as usize * 2 + 10 {
            let identity = company_identity(index);
            assert!(labels.insert(identity.label.clone()), "{}", identity.label);
        }
        let mut rng = Rng::new(2026);
        let (mut names, mut latin) = (HashSet::new(), 0);
        for index in 0..60_000 {
            let record = company(&mut rng, index);
            let name = text(&record, "name");
            assert!(names.insert(name.to_owned()), "duplicate name {name}");
            assert!(name.ends_with("公司") || name.ends_with("集团"), "{name}");
            latin += usize::from(name.starts_with(|c: char| c.is_ascii_uppercase()));
            let domain = text(&record, "domain");
            assert!(
                domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b"-.".contains(&b)),
                "{domain}"
            );
            assert_eq!(text(&record, "website"), format!("https://www.{domain}"));
            assert!(super::super::INDUSTRIES.contains(&text(&record, "industry")));
            assert_eq!(record["annual_revenue"]["currency"], "CNY");
            let address = text(&record, "address");
            assert!(address.contains('市') && address.contains('区') && address.contains('号'));
            assert!(text(&record, "phone").starts_with("+86 "));
        }
        assert!((1_000..5_000).contains(&latin), "{latin}");
        assert_eq!(company_brand("深圳华科网络科技有限公司"), Some("华科"));
        assert_eq!(company_brand("华科科技股份有限公司"), Some("华科"));
        assert_eq!(company_brand("ACME（北京）科技有限公司"), Some("ACME"));
        assert_eq!(company_brand("Northwind Logistics"), Some("Northwind"));
        assert_eq!(company_city("ACME科技 北京分公司"), Some("北京"));
        assert_eq!(company_city("华科科技有限公司上海分公司"), Some("上海"));
        for name in names.iter().take(2_000) {
            assert!(company_brand(name).is_some(), "{name}");
        }
        // The brands are coined, not famous ones.
        for famous in [
            "华为", "腾讯", "阿里", "百度", "京东", "小米", "中兴", "万科", "华泰",
        ] {
            assert!(names.iter().all(|n| !n.contains(famous)), "{famous}");
        }
    }

    #[test]
    fn activities_are_chinese_and_shaped_like_the_english_ones() {
        let mut rng = Rng::new(5);
        let links = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let mut mixed = 0;
        let mut kinds = HashSet::new();
        for i in 0..3_000 {
            let record = activity(&mut rng, &links[..i % 3], now());
            kinds.insert(text(&record, "kind").to_owned());
            for field in ["subject", "body"] {
                let value = text(&record, field);
                assert!(!value.contains(['{', '}']), "{value}");
                assert!(value.chars().any(is_han), "{value}");
            }
            let body = text(&record, "body");
            assert!(body.ends_with('。'), "{body}");
            mixed += usize::from(body.chars().any(|c| c.is_ascii_uppercase()));
            assert_eq!(
                record.contains_key("due_at"),
                matches!(text(&record, "kind"), "task" | "call" | "meeting")
            );
            assert_eq!(record.contains_key("links"), i % 3 > 0);
        }
        assert_eq!(kinds.len(), 5);
        assert!(mixed > 100, "{mixed}");
    }

    #[test]
    fn templates_only_use_known_placeholders() {
        let mut rng = Rng::new(3);
        let kinds = super::super::KINDS.iter().map(|&(kind, _)| kind);
        let templates = kinds
            .flat_map(|kind| subjects(kind).iter().chain(openers(kind)))
            .chain(DETAILS)
            .chain(NEXT_STEPS);
        for template in templates {
            let filled = super::super::expand(&mut rng, template, placeholder);
            assert!(!filled.contains(['{', '}']), "{template}");
        }
    }
}
